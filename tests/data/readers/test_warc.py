"""WARC reading: nothing lost silently (truncation is counted), charsets decoded right, content-keyed cache."""

from __future__ import annotations

import gzip
import html
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from data.helpers import PAGE, record_starts

from hf_addons.data.executors.pipeline import Pipeline
from hf_addons.data.extract.html import HtmlToMarkdown
from hf_addons.data.readers.files import load_input
from hf_addons.data.readers.warc import decode_payload, read_warc, warc_dataset, write_warc

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "article-extraction" / "html"
CJK = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "test"
CJK = CJK / "cjkencodings"
# Article 1 of the Universal Declaration of Human Rights, in Russian (the UN's published text)
RUSSIAN = (
    "Все люди рождаются свободными и равными в своем достоинстве и правах. Они наделены разумом и "
    "совестью и должны поступать в отношении друг друга в духе братства."
)


def _page(i: int) -> str:
    body = " ".join(f"Paragraph {j} of page {i} tells how the river shaped the valley." for j in range(40))
    return f"<html><head><title>Page {i}</title></head><body><article><p>{body}</p></article></body></html>"


@pytest.fixture
def warc(tmp_path):
    return write_warc(
        tmp_path / "a.warc.gz", [{"url": f"https://x/{i}", "html": _page(i)} for i in range(12)]
    )


@pytest.mark.parametrize("fraction", [0.05, 0.33, 0.5, 0.66, 0.9, 0.999])
@pytest.mark.parametrize("compressed", [True, False])
def test_a_cut_file_ends_with_a_counted_error(tmp_path, warc, fraction, compressed):
    data = warc.read_bytes() if compressed else gzip.decompress(warc.read_bytes())
    cut = tmp_path / ("cut.warc.gz" if compressed else "cut.warc")
    n = int(len(data) * fraction)
    if n in record_starts(data, compressed):
        n -= 1  # a cut exactly between two records leaves a valid, shorter WARC: nothing to detect
    cut.write_bytes(data[:n])
    rows = list(read_warc(cut))
    errors = [r["warc_error"] for r in rows if r["warc_error"]]
    assert errors in (["warc:truncated_record"], ["warc:truncated_stream"]), errors
    assert rows[-1]["warc_error"], "the error row is the last one"
    # the complete records before the cut are whole and exact
    for r in rows[:-1]:
        i = int(r["url"].rsplit("/", 1)[1])
        assert r["html"] == _page(i)
    # and the pipeline report adds up: records in = kept + removed, the truncation among the reasons
    report = Pipeline([HtmlToMarkdown()]).run(load_input(str(cut)), tmp_path / "out")
    assert report["input_rows"] == len(rows) == report["output_rows"] + report["removed_rows"]
    assert sum(report["steps"][0]["reasons"].values()) == report["removed_rows"] >= 1
    assert set(report["errors"]) == set(errors)


def test_a_whole_file_has_no_error_rows(warc):
    rows = list(read_warc(warc))
    assert len(rows) == 12 and not any(r["warc_error"] for r in rows)
    plain = warc.with_name("plain.warc")
    plain.write_bytes(gzip.decompress(warc.read_bytes()))
    assert [r["html"] for r in read_warc(plain)] == [r["html"] for r in rows]


def test_a_corrupt_gzip_member_is_never_kept_as_whole(tmp_path):
    """A flipped byte in a record's gzip member (its last deflate block or CRC) can leave text of the right
    length that differs near its end; the bad CRC shows only when the reader moves on, so the record held
    back must be checked against its own member. Every position of the file is flipped once."""
    pages = [{"url": f"https://x/{i}", "html": _page(i)} for i in range(3)]
    good = write_warc(tmp_path / "g.warc.gz", pages).read_bytes()
    bad = tmp_path / "bad.warc.gz"
    corrupt = 0
    for pos in range(len(good)):
        data = bytearray(good)
        data[pos] ^= 0xFF
        bad.write_bytes(bytes(data))
        rows = list(read_warc(bad))
        for r in rows:
            if not r["warc_error"]:
                assert r["html"] == _page(int(r["url"].rsplit("/", 1)[1])), pos
        corrupt += any(r["warc_error"] == "warc:corrupt_record" for r in rows)
    assert corrupt > 0  # the check is reached (flips in a member's last block or its trailer)


def test_not_a_warc_and_empty_file_are_counted_not_raised(tmp_path):
    junk = tmp_path / "junk.warc"
    junk.write_bytes(b"this is not a WARC file at all\n" * 10)
    rows = list(read_warc(junk))
    assert len(rows) == 1 and rows[0]["warc_error"].startswith(("warc:not_a_warc", "warc:broken_stream"))
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert list(read_warc(empty)) == []


def _reencoded_cases():
    """(name, payload bytes, expected text): real pages and texts in the encodings crawls meet."""
    cases = []
    pages = sorted(SHARED.glob("*.html.gz"))[:40] if SHARED.is_dir() else []
    for p in pages:
        src = gzip.decompress(p.read_bytes()).decode("utf-8")
        if src.isascii():
            continue
        src = re.sub(r"<meta[^>]*charset[^>]*>", "", src, flags=re.I)  # nothing declared: the hard case
        for enc in ("cp1252", "iso-8859-15", "utf-16-le", "utf-16-be", "utf-16", "utf-32"):
            data = src.encode(enc, errors="xmlcharrefreplace")
            cases.append((f"{p.name[:8]}-{enc}", data, data.decode(enc).lstrip("\ufeff")))
    ru = f"<html><body><p>{RUSSIAN}</p></body></html>"
    for enc in ("cp1251", "koi8-r", "iso-8859-5", "utf-16-le", "utf-16-be"):
        cases.append((f"ru-{enc}", ru.encode(enc), ru))
    for enc in ("big5", "cp949", "euc_jp", "gb18030", "gbk", "shift_jis", "johab"):
        if (CJK / f"{enc}.txt").exists():
            raw, ref = (CJK / f"{enc}.txt").read_bytes(), (CJK / f"{enc}-utf8.txt").read_text("utf-8")
            cases.append(
                (
                    f"cjk-{enc}",
                    b"<html><body><p>" + raw + b"</p></body></html>",
                    f"<html><body><p>{ref}</p></body></html>",
                )
            )
    return cases


def test_reencoded_real_pages_decode_to_the_original_text():
    cases = _reencoded_cases()
    if len(cases) < 20:
        pytest.skip("../shared article pages not available")
    wrong = [(name, decode_payload(data)[1]) for name, data, ref in cases if decode_payload(data)[0] != ref]
    assert not wrong, wrong
    kinds = Counter(name.split("-")[0] if name[:3] in ("ru-", "cjk") else "west" for name, _, _ in cases)
    assert kinds["west"] >= 60 and kinds["ru"] == 5


def test_declared_charsets_and_utf16_pages_through_a_warc(tmp_path):
    text = "<html><body><p>Café, crème brûlée and naïve façades.</p></body></html>"
    pages = [
        {"url": "https://a/", "html": text.encode("latin-1"), "charset": "iso-8859-1"},
        {"url": "https://b/", "html": text.encode("utf-16"), "charset": "utf-16"},
        {"url": "https://c/", "html": text.encode("utf-16-le"), "charset": ""},
        {"url": "https://d/", "html": text.encode("cp1252"), "charset": ""},
        # a server that calls its UTF-8 latin-1: the UTF-8 reading wins
        {"url": "https://e/", "html": text.encode("utf-8"), "charset": "iso-8859-1"},
    ]
    rows = list(read_warc(write_warc(tmp_path / "enc.warc.gz", pages)))
    assert [r["warc_error"] for r in rows] == [""] * 5
    assert [r["html"] for r in rows] == [text] * 5


def test_meta_charset_is_read_when_the_header_says_nothing():
    page = f'<html><head><meta charset="koi8-r"></head><body>{RUSSIAN}</body></html>'
    text, codec, err = decode_payload(page.encode("koi8-r"))
    assert (text, codec, err) == (page, "koi8-r", "")
    assert decode_payload(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))[2] == "warc:binary"


def test_replaced_warc_is_read_afresh_in_this_process_and_a_new_one(tmp_path):
    path = tmp_path / "in.warc.gz"
    write_warc(path, [{"url": "https://old/", "html": _page(1)}])
    assert warc_dataset(path)["url"] == ["https://old/"]
    write_warc(path, [{"url": "https://new/", "html": _page(2)}, {"url": "https://new2/", "html": _page(3)}])
    assert warc_dataset(path)["url"] == ["https://new/", "https://new2/"]
    assert load_input(str(path))["url"] == ["https://new/", "https://new2/"]
    code = f"from hf_addons.data.readers.files import load_input; print(load_input({str(path)!r})['url'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "https://new2/" in out


def test_replaced_jsonl_is_read_afresh(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "old"}\n')
    assert load_input(str(path))["text"] == ["old"]
    path.write_text('{"text": "new"}\n{"text": "newer"}\n')
    assert load_input(str(path))["text"] == ["new", "newer"]


def test_html_entities_survive_decoding():
    page = "<p>caf&eacute; &amp; cr\u00e8me</p>"
    assert html.unescape(decode_payload(page.encode("cp1252"))[0]) == "<p>café & crème</p>"


def test_warc_roundtrip_charsets_and_broken_records(tmp_path):
    path = write_warc(
        tmp_path / "a.warc.gz",
        [
            {"url": "https://a.example/", "html": PAGE},
            {
                "url": "https://b.example/",
                "html": "<p>café crème</p>".encode("latin-1"),
                "charset": "iso-8859-1",
            },
            {"url": "https://c.example/", "html": b"\x89PNG\x00\x00", "content_type": "image/png"},
            {"url": "https://d.example/", "html": b"\x00\x01\x02binary", "content_type": "text/html"},
        ],
    )
    rows = list(read_warc(path))
    assert [r["url"] for r in rows] == [f"https://{c}.example/" for c in "abcd"]
    assert (
        rows[0]["html"] == PAGE
        and rows[0]["status"] == 200
        and rows[0]["warc_date"] == "2024-01-01T00:00:00Z"
    )
    assert rows[1]["html"] == "<p>café crème</p>" and rows[1]["charset"] == "iso-8859-1"
    assert json.loads(rows[1]["headers"])["Content-Type"].startswith("text/html")
    assert rows[2]["warc_error"] == "warc:non_text" and rows[3]["warc_error"] == "warc:binary"
    # a truncated file: the records before the break are read, the break becomes an error row
    data = path.read_bytes()
    (tmp_path / "cut.warc").write_bytes(gzip.decompress(data)[:900])
    cut = list(read_warc(tmp_path / "cut.warc"))
    assert cut and all(r["warc_error"] or r["html"] for r in cut)
    with pytest.raises(FileNotFoundError):
        list(read_warc(tmp_path / "missing.warc"))


def test_warc_dataset_streaming_and_pipeline_report_counts_errors(tmp_path):
    path = write_warc(
        tmp_path / "b.warc.gz",
        [{"url": f"https://x/{i}", "html": PAGE.replace("River", f"River{i}")} for i in range(3)]
        + [{"url": "https://x/bin", "html": b"\x00" * 64}],
    )
    ds = warc_dataset(path)
    assert len(ds) == 4 and set(ds.column_names) >= {"url", "html", "warc_error"}
    stream = load_input(str(path), streaming=True)
    report = Pipeline([HtmlToMarkdown()], shard_rows=2).run(stream, tmp_path / "out")
    assert report["input_rows"] == 4 and report["output_rows"] == 3
    assert report["errors"] == {"warc:binary": 1}
    assert report["steps"][0]["reasons"] == {"warc:binary": 1}
    import pyarrow.parquet as pq

    out = pq.read_table(tmp_path / "out" / "data")
    assert out.column("warc_date").to_pylist() == ["2024-01-01T00:00:00Z"] * 3  # crawl date and page date
    assert out.column("date").to_pylist()[0].startswith("2024-03-01")  # both kept
