"""Input loading: WARC, JSONL/JSON or Parquet files and directories, or a Hub dataset name, as a ``Dataset``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


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
            files += sorted(f for f in p.rglob("*") if f.is_file() and _kind(f))
        elif p.exists():
            files.append(p)
        else:
            hub.append(str(s))
    if hub:
        if files or len(hub) > 1:
            raise ValueError(f"inputs not found: {hub} (a Hub dataset name must be the only input)")
        try:
            return datasets.load_dataset(hub[0], split="train", streaming=streaming)
        except Exception as exc:
            raise FileNotFoundError(
                f"input {hub[0]!r} is neither a local file nor a loadable dataset: {exc}"
            ) from exc
    kinds = {_kind(f) for f in files}
    if not files or None in kinds:
        raise ValueError(f"unsupported or no input files: {[str(f) for f in files if not _kind(f)] or specs}")
    if len(kinds) > 1:
        raise ValueError(f"mixed input formats {sorted(kinds)}; give one format at a time")
    kind = kinds.pop()
    paths = [str(f) for f in files]
    if kind == "warc":
        return warc_dataset(paths, streaming=streaming)
    return datasets.load_dataset(kind, data_files=paths, split="train", streaming=streaming)


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".warc", ".warc.gz", ".warc.zst", ".warc.lz4", ".arc.gz")):
        return "warc"
    if name.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz")):
        return "json"
    if name.endswith(".parquet"):
        return "parquet"
    return None
