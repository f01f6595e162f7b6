"""Fuzzing the readers: arbitrary bytes never crash a read, and every record is counted."""

from __future__ import annotations

import gzip

import pytest
from data.helpers import record_starts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_addons.data.extract.html import HtmlToMarkdown
from hf_addons.data.readers.files import load_input
from hf_addons.data.readers.warc import decode_payload, read_warc, write_warc
from hf_addons.errors import InputError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
PAGE = "<html><body><p>" + "A sentence about rivers and valleys. " * 30 + "</p></body></html>"


@pytest.fixture(scope="module")
def good_warc(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "good.warc.gz"
    write_warc(path, [{"url": f"https://x/{i}", "html": PAGE} for i in range(4)])
    return path.read_bytes()


@FUZZ
@given(data=st.binary(max_size=4096), compress=st.booleans())
def test_arbitrary_bytes_as_a_warc(tmp_path_factory, data, compress):
    path = tmp_path_factory.mktemp("f") / ("x.warc.gz" if compress else "x.warc")
    path.write_bytes(gzip.compress(data) if compress else data)
    rows = list(read_warc(path))
    assert all(set(r) >= {"url", "html", "warc_error"} for r in rows)
    assert rows or not data  # something that is not empty is never read as nothing


@FUZZ
@given(
    cut=st.integers(min_value=1),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
)
def test_cut_and_corrupted_warcs(tmp_path_factory, good_warc, cut, flips):
    data = bytearray(good_warc[: cut % len(good_warc) or len(good_warc)])
    for pos, value in flips:
        data[pos % len(data)] = value
    path = tmp_path_factory.mktemp("c") / "x.warc.gz"
    path.write_bytes(bytes(data))
    rows = list(read_warc(path))
    whole = [r for r in rows if not r["warc_error"]]
    assert all(r["html"] == PAGE for r in whole)  # what is kept as whole is exact
    # a cut exactly between two records leaves a valid, shorter WARC: nothing to detect
    if len(data) < len(good_warc) and not flips and len(data) not in record_starts(good_warc, True):
        assert rows and rows[-1]["warc_error"]  # a cut file always ends with a counted error


@FUZZ
@given(
    payload=st.binary(max_size=2048),
    declared=st.sampled_from([None, "", "utf-8", "latin-1", "utf-16", "bogus", "koi8-r"]),
)
def test_decoding_arbitrary_payloads(payload, declared):
    text, codec, error = decode_payload(payload, declared)
    assert isinstance(text, str) and error in ("", "warc:binary", "warc:undecodable_bytes")


@FUZZ
@given(pages=st.lists(st.one_of(st.binary(max_size=1024), st.text(max_size=1024), st.none()), max_size=5))
def test_extraction_of_arbitrary_pages_keeps_every_row(pages):
    out = HtmlToMarkdown()({"html": pages, "url": [None] * len(pages)})
    assert len(out["text"]) == len(out["extract_keep"]) == len(out["extract_reason"]) == len(pages)
    assert all(keep or reason for keep, reason in zip(out["extract_keep"], out["extract_reason"]))


@FUZZ
@given(data=st.binary(max_size=1024), compress=st.booleans())
def test_arbitrary_bytes_as_jsonl_load_or_fail_clearly(tmp_path_factory, data, compress):
    path = tmp_path_factory.mktemp("j") / ("x.jsonl.gz" if compress else "x.jsonl")
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        ds = load_input(str(path))
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert len(ds) >= 0
