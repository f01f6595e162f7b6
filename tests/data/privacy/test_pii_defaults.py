"""PII: pre-training defaults, phone numbers vs card numbers and addresses, street addresses, overlap audit."""

from __future__ import annotations

import pytest

from hf_addons.data.privacy.pii import DEFAULT_ENTITIES, PATTERN_ENTITIES, PIIAnonymizer

PATTERNS = [e for e in PATTERN_ENTITIES if e != "DATE_TIME"]


def test_defaults_suit_pre_training():
    assert {"EMAIL_ADDRESS", "IP_ADDRESS", "PERSON", "STREET_ADDRESS", "PHONE_NUMBER"} <= set(
        DEFAULT_ENTITIES
    )
    assert not {"DATE_TIME", "NRP", "LOCATION", "ORGANIZATION", "URL"} & set(DEFAULT_ENTITIES)
    assert PIIAnonymizer().entities == DEFAULT_ENTITIES


def test_default_pattern_step_keeps_dates():
    step = PIIAnonymizer(entities=[e for e in DEFAULT_ENTITIES if e != "PERSON"])
    text = "On 2024-03-05 the U.S. team mailed ana@acme.io from 84.17.34.2."
    out = step({"text": [text]})["text"][0]
    assert out == "On 2024-03-05 the U.S. team mailed <EMAIL_ADDRESS> from <IP_ADDRESS>."


@pytest.mark.parametrize(
    "text,address",
    [
        ("He lives at 221B Baker Street, London.", "221B Baker Street, London."),
        ("Send it to 14 Crown Street\n Suite 321\n LONDON\n United Kingdom 75419 please", None),
        ("lives at 86036 Rua do Arenque 1634, Goiânia", "86036 Rua do Arenque 1634, Goiânia"),
        ("Office: Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10115 Berlin"),
        ("address: 28245 Puruntie 82 Apt. 595\n LAPPEENRANTA", "28245 Puruntie 82 Apt. 595\n LAPPEENRANTA"),
        ("new address is PSC 6293, Box 8158\nAPO AP 04336", "PSC 6293, Box 8158\nAPO AP 04336"),
    ],
)
def test_street_addresses(text, address):
    spans = PIIAnonymizer(entities=["STREET_ADDRESS"], mode="flag").analyze([text])[0]
    found = [text[s["start"] : s["end"]] for s in spans]
    assert found == [address or text[text.index("14") : text.index(" please")]]


@pytest.mark.parametrize(
    "text", ["In 2019 the company hired 300 people.", "Windows 10 Pro 2 is out", "see chapter 3 section 2"]
)
def test_no_address_in_plain_numbers(text):
    assert PIIAnonymizer(entities=["STREET_ADDRESS"], mode="flag").analyze([text])[0] == []


def test_phone_rejects_card_numbers_and_address_parts():
    step = PIIAnonymizer(entities=PATTERNS, mode="flag")
    cases = {
        "Card 4111 1111 1111 1111 expires soon": ["CREDIT_CARD"],
        "card number 4012888888881881": ["CREDIT_CARD"],
        "ship to 25615 Tawastintie 72 Apt. 004\nKNIVSTA 18237 today": ["STREET_ADDRESS"],
        "Call me at (212) 555-0198 tomorrow": ["PHONE_NUMBER"],
        "Call +44 20 7946 0958 now": ["PHONE_NUMBER"],
    }
    for text, types in cases.items():
        assert [s["type"] for s in step.analyze([text])[0]] == types, text


def test_overlapping_spans_resolved_once_and_audit_equals_text():
    step = PIIAnonymizer(entities=PATTERNS)
    text = "Mail ana.lopez@acme.io now."
    a = text.index("ana")
    spans = [
        {"type": "EMAIL_ADDRESS", "start": a, "end": a + 17, "score": 1.0},
        {"type": "PERSON", "start": a, "end": a + 9, "score": 0.85},
        {"type": "URL", "start": a + 10, "end": a + 17, "score": 0.9},
    ]
    new, audit = step.anonymize(text, spans)
    assert new == "Mail <EMAIL_ADDRESS> now." and [s["type"] for s in audit] == ["EMAIL_ADDRESS"]
    rebuilt, pos = [], 0
    for s in audit:
        rebuilt += [text[pos : s["start"]], s["replacement"]]
        pos = s["end"]
    assert "".join(rebuilt) + text[pos:] == new
