"""Secret scanning and redaction (``hf_addons.data.privacy.secrets``), and pickling of the privacy steps."""

from __future__ import annotations

import random
import string
import textwrap
import zlib
from pathlib import Path

import pytest
from data.helpers import outside_spans_unchanged

from hf_addons.data.privacy.pii import PIIAnonymizer
from hf_addons.data.privacy.secrets import _B62, SecretFilter, SecretScanner, redact, shannon_entropy


def github_token(prefix: str = "ghp", seed: int = 0, valid: bool = True) -> str:
    rng = random.Random(seed)
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30))
    value, check = zlib.crc32(body.encode()), ""
    while value:
        value, r = divmod(value, 62)
        check = _B62[r] + check
    check = check.rjust(6, "0")
    if not valid:
        check = check[:-1] + ("A" if check[-1] != "A" else "B")
    return f"{prefix}_{body}{check}"


# --------------------------------------------------------------------------------------------- secrets
CODE = textwrap.dedent(
    f'''\
    import os

    GITHUB_TOKEN = "{github_token()}"
    aws_access_key_id = "AKIAQYLPMN5HHHFPZAM2"
    aws_secret_access_key = "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"
    db_password = "n0t-s0-S3cret!"
    DATABASE_URL = "postgres://admin:Xy7!pQ2r@db.internal:5432/app"
    SLACK = "https://hooks.slack.com/services/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"
    STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xa"
    JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    KEY = """-----BEGIN RSA PRIVATE KEY-----
    MIIEowIBAAKCAQEA7bq8nP0r1Zx
    -----END RSA PRIVATE KEY-----"""
    '''
)


EXPECTED = {
    "github_token": 3,
    "aws_access_key_id": 4,
    "aws_secret_access_key": 5,
    "assigned_secret": 6,
    "url_password": 7,
    "slack_webhook": 8,
    "stripe_key": 9,
    "jwt": 10,
    "private_key": 11,
}


def test_secrets_types_and_lines():
    found = SecretScanner().scan([CODE])[0]
    assert {f["type"]: f["line"] for f in found} == EXPECTED
    for f in found:
        assert CODE[f["start"] : f["end"]].strip()  # spans point into the text


def test_github_crc32_checksum_sets_confidence():
    good, bad = github_token(seed=1), github_token(seed=1, valid=False)
    scanner = SecretScanner(rules=["github_token"])
    assert [(f["type"], f["confidence"]) for f in scanner.scan([f"t = {good}"])[0]] == [
        ("github_token", "high")
    ]
    # a valid-format token with a wrong CRC32 is reported with low confidence, not dropped
    assert [f["confidence"] for f in scanner.scan([f"t = {bad}"])[0]] == ["low"]
    assert SecretScanner(rules=["github_token"], min_confidence="high").scan([f"t = {bad}"])[0] == []
    lenient = SecretScanner(rules=["github_token"], validate_checksums=False)
    assert [f["confidence"] for f in lenient.scan([f"t = {bad}"])[0]] == ["high"]
    with pytest.raises(ValueError, match="min_confidence"):
        SecretScanner(min_confidence="certain")


def test_placeholders_and_references_are_not_secrets():
    text = textwrap.dedent(
        """\
        password = "changeme"
        password = "${DB_PASSWORD}"
        api_key = os.environ["API_KEY"]
        token = "<your-token-here>"
        secret_key = "your_secret_key"
        tokenizer_name = "bert-base-uncased"
        image_token = "[IMG_END]"
        url = "https://user:****@example.com"
        """
    )
    assert SecretScanner().scan([text])[0] == []


def test_redaction_touches_only_secret_spans():
    step = SecretFilter(text_column="content", action="redact")
    out = step({"content": [CODE, "x = 1\n"]})
    found = out["secrets_found"][0]
    spans = [dict(f, replacement=f"<{f['type'].upper()}>") for f in found]
    assert outside_spans_unchanged(CODE, out["content"][0], spans)
    assert "<GITHUB_TOKEN>" in out["content"][0] and 'db_password = "<ASSIGNED_SECRET>"' in out["content"][0]
    assert out["content"][1] == "x = 1\n" and out["secrets_keep"] == [True, True]
    assert redact("abc", [], "<{TYPE}>") == "abc"


def test_drop_action_and_bad_input():
    step = SecretFilter(text_column="content", action="drop")
    out = step(
        {"content": [CODE, "print('hi')", b"\x89PNG\x00\x00binary", "é".encode("latin-1") + b" ok", 3]}
    )
    assert out["secrets_keep"] == [False, True, False, True, False]
    assert out["secrets_reason"][0].startswith("secrets:") and "github_token" in out["secrets_reason"][0]
    assert out["secrets_reason"][2] == "secrets:binary" and out["secrets_error"][4] == "not_text:int"
    with pytest.raises(KeyError, match="missing column"):
        step({"text": ["x"]})
    with pytest.raises(ValueError, match="unknown secret rule"):
        SecretScanner(rules=["nope"])


def test_no_false_positives_on_real_sources():
    import argparse
    import email.message
    import json as json_mod

    texts = [Path(m.__file__).read_text() for m in (argparse, email.message, json_mod)]
    assert sum(len(f) for f in SecretScanner().scan(texts)) == 0


def test_batch_offsets_are_per_row():
    token = github_token(seed=5)
    rows = ["nothing", f"a = '{token}'", "", f"\n\nb = '{token}'"]
    found = SecretScanner().scan(rows)
    assert [len(f) for f in found] == [0, 1, 0, 1]
    assert rows[1][found[1][0]["start"] : found[1][0]["end"]] == token and found[3][0]["line"] == 3
    assert shannon_entropy("aaaa") == 0.0 and shannon_entropy("ab") == 1.0


def test_secret_filter_in_datasets_map():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"content": [CODE, "x = 1"]})
    out = ds.map(SecretFilter(action="drop"), batched=True, batch_size=2)
    assert out.num_rows == 2 and out["secrets_keep"] == [False, True]


# ------------------------------------------------------------------------------------------------- PII
PATTERN_ONLY = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "URL"]


def test_steps_pickle_without_loaded_state():
    import pickle

    from hf_addons.data.privacy.licenses import LicenseClassifier

    secrets = SecretFilter()
    secrets({"content": [CODE]})
    pii = PIIAnonymizer(entities=PATTERN_ONLY)
    pii({"text": ["x@acme.io"]})
    lic = LicenseClassifier(text_column="content")
    tagged = lic({"content": [b"\x00\x00", "# SPDX-License-Identifier: MIT\n", None]})
    assert tagged["license_spdx"] == [None, "MIT", None] and tagged["license_error"] == ["binary", "", ""]
    for step in (secrets, pii, lic):
        clone = pickle.loads(pickle.dumps(step))
        assert repr(clone) == repr(step)
    assert pickle.loads(pickle.dumps(secrets))._scanner is None
