"""Small helpers shared by the subcommands (input reading, JSON output)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_texts(paths: list[str] | None) -> list[str]:
    """Texts from files (one text per file; ``.jsonl`` gives one per line's ``text``) or stdin when none."""
    if not paths or paths == ["-"]:
        return [sys.stdin.read()]
    texts: list[str] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"input file not found: {p}")
        if path.suffix == ".jsonl":
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                if line.strip():
                    row = json.loads(line)
                    if "text" not in row:
                        raise ValueError(f"{p}:{i + 1}: JSONL row has no 'text' field")
                    texts.append(row["text"])
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def write_jsonl(rows: Iterable[dict[str, Any]], out: str | None = None) -> None:
    stream = open(out, "w", encoding="utf-8") if out and out != "-" else sys.stdout
    try:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            stream.flush()
    finally:
        if stream is not sys.stdout:
            stream.close()
