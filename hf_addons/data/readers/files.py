"""Input loading: WARC, JSONL/JSON or Parquet files and directories, or a Hub dataset name, as a ``Dataset``."""

from __future__ import annotations

import gzip
import json
import logging
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

from hf_addons.data.readers.warc import gzip_problem
from hf_addons.errors import InputError, root_cause


def load_input(spec: str | os.PathLike | Iterable[str], streaming: bool = False):
    """A Dataset (or IterableDataset) from WARC, JSONL/JSON, Parquet files or directories, or a Hub name.

    Args:
        spec: a file, a directory (its WARC/JSONL/JSON/Parquet files), a list of them, or one Hub dataset name.
        streaming: return an ``IterableDataset`` that reads lazily.

    Examples:

    ```python
    >>> ds = load_input("crawl/")  # doctest: +SKIP
    >>> ds = load_input(["a.jsonl", "b.jsonl"], streaming=True)  # doctest: +SKIP
    ```
    """
    import datasets

    from hf_addons.data.readers.warc import warc_dataset

    specs = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    files: list[Path] = []
    hub: list[str] = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and input_kind(f))
        elif p.exists():
            files.append(p)
        elif input_kind(p) or p.is_absolute() or str(s).startswith((".", "~")) or os.sep + os.sep in str(s):
            raise FileNotFoundError(f"input not found: {s}")
        else:
            hub.append(str(s))
    if hub:
        if files or len(hub) > 1:
            raise InputError(f"inputs not found: {hub} (a Hub dataset name must be the only input)")
        from hf_addons.models import ensure_hub_reachable

        ensure_hub_reachable(hub[0], "dataset")
        try:
            return datasets.load_dataset(hub[0], split="train", streaming=streaming)
        except Exception as exc:
            raise InputError(
                f"input {hub[0]!r} is neither a local file nor a loadable dataset: {root_cause(exc)}"
            ) from exc
    kinds = {input_kind(f) for f in files}
    if not files or None in kinds:
        raise InputError(
            f"unsupported or no input files: {[str(f) for f in files if not input_kind(f)] or specs}"
        )
    if len(kinds) > 1:
        raise InputError(f"mixed input formats {sorted(kinds)}; give one format at a time")
    kind = kinds.pop()
    paths = [str(f) for f in files]
    if kind == "warc":
        return warc_dataset(paths, streaming=streaming)
    for f in files:
        check_readable(f, kind)
    # datasets logs a parse error before raising a generic one; the error raised here names file and line
    quiet = logging.getLogger(f"datasets.packaged_modules.{kind}.{kind}")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return datasets.load_dataset(kind, data_files=paths, split="train", streaming=streaming)
    except Exception as exc:
        for f in files:
            problem = diagnose(f, kind)
            if problem:
                raise InputError(f"{f}: {problem}") from exc
        raise InputError(f"could not read {paths}: {root_cause(exc)}") from exc
    finally:
        quiet.setLevel(level)


def check_readable(path: Path, kind: str) -> None:
    """Cheap checks before a file is handed to ``datasets``: it is non-empty and starts as its kind should."""
    head = _head(path, 4096)
    if head is None:
        raise InputError(f"{path}: not a valid gzip file")
    if not head.strip():
        raise InputError(f"{path}: the file is empty")
    if kind == "json" and (b"\x00" in head or not head.lstrip().startswith((b"{", b"["))):
        raise InputError(f"{path}: not JSON Lines text (it does not start with a JSON object)")
    if kind == "parquet" and not head.startswith(b"PAR1"):
        raise InputError(f"{path}: not a Parquet file")
    # datasets reads a cut gzip stream up to the cut without a word: check the whole stream first
    problem = gzip_problem(path) if path.name.endswith(".gz") else ""
    if problem:
        raise InputError(f"{path}: {problem}")


def diagnose(path: Path, kind: str) -> str:
    """What is wrong with a file ``datasets`` failed on: truncated gzip, bad bytes, the first bad JSON line."""
    problem = gzip_problem(path) if path.name.endswith(".gz") else ""
    if problem:
        return problem
    if kind != "json":
        return ""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                return f"line {number} is not UTF-8 text (a binary file?)"
            except json.JSONDecodeError as exc:
                return f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})"
            if not isinstance(row, dict) and not path.name.endswith((".json", ".json.gz")):
                return f"line {number} is a JSON {type(row).__name__}, not an object"
    return ""


def _head(path: Path, n: int) -> bytes | None:
    """The first ``n`` bytes of the (decompressed) file; None for a ``.gz`` that is not gzip."""
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(n)
        except (EOFError, OSError, zlib.error):
            return None
    with open(path, "rb") as fh:
        return fh.read(n)


def input_kind(path: Path) -> str | None:
    """The reader of a file by its name: ``"warc"``, ``"json"`` (JSON Lines too) or ``"parquet"``; else None."""
    name = path.name.lower()
    if name.endswith((".warc", ".warc.gz", ".warc.zst", ".warc.lz4", ".arc.gz")):
        return "warc"
    if name.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz")):
        return "json"
    if name.endswith(".parquet"):
        return "parquet"
    return None
