"""``Pipeline``: ordered data steps over a Dataset / IterableDataset, a JSON report, atomic sharded output.

Map steps (``Step`` or any batched callable) run per shard, chained in one ``map`` call; global stages
(``ExactDeduplicator``, ``MinHashDeduplicator``) contribute a signature step to that map and cluster all
rows once every shard is done. ``run`` works in three resumable phases under ``output_dir``:

1. ``_work/stage-XXXXX.parquet``: each input shard after the map steps (skipped when present);
2. ``_work/global.parquet``: the dedup decisions over all shards (skipped when present);
3. ``data/shard-XXXXX.parquet`` (kept rows) and optional ``rejects/``, then ``report.json``.

Every file is written to a temporary name and renamed, so an interrupted run leaves only whole files and
a rerun redoes only what is missing. A row is kept when every ``*_keep`` column of the steps is true.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.base import Batch, FilterStep, registered_steps, renamed
from hf_addons.errors import InputError

GLOBAL_COLUMNS_SUFFIX = ("_cluster", "_keep", "_reason")


def is_global_stage(step: Any) -> bool:
    """A dedup stage: contributes a per-shard ``signature_step`` and clusters all rows once (``cluster``).

    Args:
        step: a pipeline step.

    Examples:

    ```python
    >>> from hf_addons.data import ExactDeduplicator, C4Filter
    >>> is_global_stage(ExactDeduplicator()), is_global_stage(C4Filter())
    (True, False)
    ```
    """
    return hasattr(step, "signature_step") and hasattr(step, "cluster")


def step_name(step: Any) -> str:
    """The step's ``name`` (the prefix of its columns), else the function or class name.

    Args:
        step: a pipeline step or function.

    Examples:

    ```python
    >>> step_name(len)
    'len'
    ```
    """
    return getattr(step, "name", None) or getattr(step, "__name__", type(step).__name__)


class _Chain:
    """All map steps as one picklable batched callable (one ``map`` pass instead of one per step)."""

    def __init__(self, steps: Sequence[Callable[[Batch], Batch]]) -> None:
        self.steps = list(steps)

    def __call__(self, batch: Batch) -> Batch:
        batch = dict(batch)
        for step in self.steps:
            batch = step(batch)
        return batch


def atomic_write_table(table, path: Path) -> None:
    """Write Parquet to a temporary name and rename it, so a reader never sees half a file.

    Args:
        table: a ``pyarrow.Table``.
        path: the Parquet file written.

    Examples:

    ```python
    >>> atomic_write_table(table, Path("out/shard-00000.parquet"))  # doctest: +SKIP
    ```
    """
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def atomic_write_json(obj: Any, path: Path) -> None:
    """Write JSON to a temporary name and rename it, so a reader never sees half a file.

    Args:
        obj: anything ``json.dumps`` takes (others as ``str``).
        path: the JSON file written.

    Examples:

    ```python
    >>> atomic_write_json({"rows": 3}, Path("out/report.json"))  # doctest: +SKIP
    ```
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def remove_partial_files(root: Path) -> list[Path]:
    """Delete the temporary files an interrupted (killed) write left under ``root``; returns them."""
    found = [p for p in root.rglob(".*.tmp-*") if p.is_file()] if root.exists() else []
    for p in found:
        p.unlink(missing_ok=True)
    return found


def describe_step(step: Any) -> dict[str, Any]:
    """A step as JSON: its class (or function) and its public attributes, canonically ordered.

    Sets become sorted lists and object addresses are dropped, so the description (and the pipeline
    fingerprint built on it) is the same in every process, whatever ``PYTHONHASHSEED`` is.
    """
    if not hasattr(step, "__dict__") or inspect.isfunction(step):
        return {"function": f"{getattr(step, '__module__', '')}.{getattr(step, '__qualname__', repr(step))}"}
    kind = type(step)
    options = {k: _canonical(v) for k, v in vars(step).items() if not k.startswith("_")}
    return {"class": f"{kind.__module__}.{kind.__qualname__}", "options": dict(sorted(options.items()))}


def _canonical(value: Any) -> Any:
    import dataclasses
    import re

    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (set, frozenset)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"class": type(value).__qualname__, **_canonical(dataclasses.asdict(value))}
    if inspect.isroutine(value) or isinstance(value, type):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if hasattr(value, "__dict__"):
        return describe_step(value)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


class Pipeline:
    """Ordered steps; ``apply`` returns every decision column, ``run`` writes filtered shards + report.

    Args:
        steps: batched callables (``Step`` subclasses or any ``batch -> batch`` function) and dedup stages;
            their names (the prefix of their columns) must be unique.
        num_proc: worker processes for the map steps (``datasets.map(num_proc=...)``; None: in process).
        map_batch_size: rows per ``datasets.map`` batch.
        shard_rows: rows per shard, the unit of work and of resuming.
        keep_rejects: also write the rejected rows to ``<output_dir>/rejects/``.
        progress: show a progress bar.
        batch_size: deprecated name of ``map_batch_size``.

    Examples:

    ```python
    >>> from hf_addons.data import ExactDeduplicator
    >>> pipe = Pipeline([ExactDeduplicator()])
    >>> list(pipe.apply({"text": ["The cat sat.", "the cat  sat", "A dog."]})["exact_dedup_keep"])
    [True, False, True]
    >>> report = pipe.run(dataset, "out/")  # doctest: +SKIP
    ```
    """

    def __init__(
        self,
        steps: Sequence[Any],
        *,
        num_proc: int | None = None,
        map_batch_size: int = 256,
        shard_rows: int = 50_000,
        keep_rejects: bool = False,
        progress: bool = False,
        batch_size: int | None = None,
    ) -> None:
        map_batch_size = renamed("Pipeline", "batch_size", batch_size, "map_batch_size", map_batch_size, 256)
        if not steps:
            raise ValueError("Pipeline needs at least one step")
        for s in steps:
            if not callable(s) and not is_global_stage(s):
                raise TypeError(f"pipeline step {s!r} is neither a batched callable nor a dedup stage")
        names = [step_name(s) for s in steps]
        dup = [n for n, c in Counter(names).items() if c > 1]
        if dup:
            raise ValueError(f"step names must be unique (their columns would collide): {dup}")
        if shard_rows < 1 or map_batch_size < 1:
            raise ValueError("shard_rows and map_batch_size must be positive")
        self.steps = list(steps)
        self.num_proc = num_proc
        self.map_batch_size = map_batch_size
        self.shard_rows = shard_rows
        self.keep_rejects = keep_rejects
        self.progress = progress

    # -- construction from a config -------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Pipeline:
        """Build from ``{"steps": [{"extract": {...}}, "fineweb", ...], "num_proc": 2, ...}`` (CLI YAML).

        Step names are those of the registry (``hf-addons data steps``); the other keys are the keyword
        options of ``Pipeline`` (:data:`PIPELINE_OPTIONS`) plus ``input``, which the CLI reads.
        """
        registry = registered_steps()
        steps = []
        for entry in config.get("steps") or []:
            if isinstance(entry, str):
                name, kwargs = entry, {}
            elif isinstance(entry, dict) and len(entry) == 1:
                name, kwargs = next(iter(entry.items()))
                kwargs = dict(kwargs or {})
            else:
                raise ValueError(f"config step must be a name or a one-key mapping, got {entry!r}")
            if name not in registry:
                raise ValueError(f"unknown step {name!r}; known steps: {sorted(registry)}")
            steps.append(registry[name].cls(**kwargs))
        options = (*PIPELINE_OPTIONS, *DEPRECATED_OPTIONS)
        unknown = set(config) - {"steps", "input", *options}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(steps, **{k: config[k] for k in options if k in config})

    # -- the pieces -----------------------------------------------------------------------------------
    def map_steps(self) -> list[Callable[[Batch], Batch]]:
        """The batched callables run per shard, global stages replaced by their signature step."""
        return [s.signature_step() if is_global_stage(s) else s for s in self.steps]

    def map_function(self) -> _Chain:
        return _Chain(self.map_steps())

    def _map_table(self, table):
        """Run the chained map steps over an Arrow table (in process, or ``datasets.map`` with num_proc)."""
        import pyarrow as pa

        chain = self.map_function()
        if self.num_proc and self.num_proc > 1 and table.num_rows > self.map_batch_size:
            import datasets

            ds = datasets.Dataset(table).map(
                chain, batched=True, batch_size=self.map_batch_size, num_proc=self.num_proc
            )
            return ds.data.table if hasattr(ds.data, "table") else ds.data
        parts = []
        for batch in table.to_batches(max_chunksize=self.map_batch_size):
            parts.append(pa.Table.from_pydict(chain(batch.to_pydict())))
        if not parts:
            return pa.Table.from_pydict(chain({c: [] for c in table.column_names}))
        return pa.concat_tables(parts, promote_options="default")

    def _global_decisions(self, columns: dict[str, Any], n: int, fetch_texts=None) -> dict[str, list]:
        """Cluster/keep/reason for every global stage; rows rejected by earlier steps are not judged.

        ``fetch_texts(column, ids) -> {id: text}`` serves the precision-mode check without loading all texts.
        """
        eligible = np.ones(n, bool)
        out: dict[str, list] = {}
        for s in self.steps:
            name = step_name(s)
            if is_global_stage(s):
                cluster, keep = s.cluster(
                    {c: columns[c] for c in s.columns}, eligible, fetch_texts=fetch_texts
                )
                keep = np.asarray(keep, bool) | ~eligible
                out[f"{name}_cluster"] = np.asarray(cluster).tolist()
                out[f"{name}_keep"] = keep.tolist()
                out[f"{name}_reason"] = np.where(keep, "", f"{name}:duplicate").tolist()
                eligible &= keep
            elif f"{name}_keep" in columns:
                eligible &= np.asarray(columns[f"{name}_keep"], bool)
        return out

    def keep_columns(self) -> list[str]:
        return [f"{step_name(s)}_keep" for s in self.steps if isinstance(s, FilterStep) or is_global_stage(s)]

    # -- in memory ------------------------------------------------------------------------------------
    def apply(self, dataset):
        """Every step's columns on every row (nothing dropped): a ``Dataset`` in, a ``Dataset`` out."""
        import datasets
        import pyarrow as pa

        if isinstance(dataset, datasets.IterableDataset):
            raise TypeError("apply needs a Dataset; use run(dataset, output_dir) for an IterableDataset")
        table = as_table(dataset)
        mapped = self._map_table(table)

        def fetch(column: str, ids: np.ndarray) -> dict[int, str]:
            return dict(zip(ids.tolist(), mapped.column(column).take(pa.array(ids)).to_pylist()))

        decisions = self._global_decisions(_needed_columns(mapped, self), mapped.num_rows, fetch)
        for k, v in decisions.items():
            mapped = mapped.append_column(k, pa.array(v))
        return datasets.Dataset(mapped)

    # -- sharded, resumable ---------------------------------------------------------------------------
    def describe(self) -> list[dict[str, Any]]:
        """Each step's class and options as canonical JSON values (what the fingerprint hashes)."""
        return [describe_step(s) for s in self.steps]

    def fingerprint(self) -> str:
        """A hash of the steps' configuration and the sharding, equal across processes and hash seeds."""
        text = json.dumps({"steps": self.describe(), "shard_rows": self.shard_rows}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def open_output(self, out: Path) -> dict[str, Any] | None:
        """Make ``out`` ready for a run of this pipeline (or its resumption); the report if it is finished.

        Removes the temporary files a killed run left; refuses a file, or a folder that holds a run of a
        different pipeline (by :meth:`fingerprint`). Shared by ``run`` and the Ray executor.
        """
        if out.exists() and not out.is_dir():
            raise InputError(f"output {out} is a file; give a directory (it is created when missing)")
        work = out / "_work"
        work.mkdir(parents=True, exist_ok=True)
        meta = {"fingerprint": self.fingerprint(), "steps": self.describe(), "shard_rows": self.shard_rows}
        remove_partial_files(out)
        meta_path = work / "pipeline.json"
        if not meta_path.exists():
            atomic_write_json(meta, meta_path)
            return None
        old = json.loads(meta_path.read_text())
        if old.get("fingerprint") != meta["fingerprint"]:
            raise ValueError(
                f"{out} holds a run of a different pipeline ({old.get('steps')}); "
                "use a new output directory or delete it"
            )
        report_path = out / "report.json"
        if report_path.exists():
            report = json.loads(report_path.read_text())
            if report.get("fingerprint") == meta["fingerprint"]:
                return report
        return None

    def run(self, dataset, output_dir: str | os.PathLike, *, total_rows: int | None = None) -> dict[str, Any]:
        """Process ``dataset`` shard by shard into ``output_dir``; returns (and writes) the report."""
        t0 = time.perf_counter()
        out = Path(output_dir)
        finished = self.open_output(out)
        if finished is not None:  # a finished run: nothing to redo
            return finished
        work = out / "_work"

        # phase 1: map steps per shard
        shard_paths: list[Path] = []
        done = skipped = 0
        bar = _progress(self.progress, total_rows or _len_or_none(dataset), "map")
        for i, table in _shards(dataset, self.shard_rows, skip=lambda k: (work / _stage(k)).exists()):
            path = work / _stage(i)
            if table is None:  # already done in an earlier run
                skipped += 1
            else:
                atomic_write_table(self._map_table(table), path)
                done += 1
                if bar is not None:
                    bar.update(table.num_rows)
            shard_paths.append(path)
        if bar is not None:
            bar.close()

        import pyarrow as pa
        import pyarrow.parquet as pq

        # phase 2: global stages over all shards
        counts = [pq.ParquetFile(p).metadata.num_rows for p in shard_paths]
        n = int(sum(counts))
        global_path = work / "global.parquet"
        if any(is_global_stage(s) for s in self.steps):
            if not global_path.exists():
                needed = _needed_names(self)
                cols: dict[str, list] = {}
                tables = [
                    pq.read_table(p, columns=[c for c in needed if c in _schema_names(p)])
                    for p in shard_paths
                ]
                if tables:
                    joined = pa.concat_tables(tables, promote_options="default")
                    cols = {c: joined.column(c).to_pylist() for c in joined.column_names}
                starts = np.concatenate([[0], np.cumsum(counts)])

                def fetch(column: str, ids: np.ndarray) -> dict[int, str]:
                    """Texts of ``ids`` read shard by shard (only the shards that hold some)."""
                    found: dict[int, str] = {}
                    shard_of = np.searchsorted(starts, ids, side="right") - 1
                    for k in np.unique(shard_of):
                        mine = ids[shard_of == k]
                        col = pq.read_table(shard_paths[k], columns=[column]).column(column)
                        found.update(zip(mine.tolist(), col.take(pa.array(mine - starts[k])).to_pylist()))
                    return found

                decisions = self._global_decisions(cols, n, fetch)
                atomic_write_table(pa.Table.from_pydict(decisions), global_path)
            global_table = pq.read_table(global_path)
        else:
            global_table = None

        # phase 3: filtered output shards + report
        keep_cols = self.keep_columns()
        report_cols: dict[str, list] = {}
        offset = 0
        out_rows = 0
        # one schema for every output shard (a column that is all-null in one shard is typed by the others)
        schema = pa.unify_schemas([pq.read_schema(p) for p in shard_paths], promote_options="permissive")
        for i, (path, rows) in enumerate(zip(shard_paths, counts)):
            table = conform_schema(pq.read_table(path), schema)
            if global_table is not None:
                for c in global_table.column_names:
                    table = table.append_column(c, global_table.column(c).slice(offset, rows))
            offset += rows
            keep = np.ones(rows, bool)
            for c in keep_cols:
                if c in table.column_names:
                    keep &= np.asarray(table.column(c).to_numpy(zero_copy_only=False), bool)
            out_rows += int(keep.sum())
            for c in table.column_names:
                if c.endswith(("_keep", "_reason", "_error")):
                    report_cols.setdefault(c, []).extend(table.column(c).to_pylist())
            # an empty shard is not written: readers (datasets' parquet loader) choke on 0-row files
            data_path = out / "data" / f"shard-{i:05d}.parquet"
            if keep.any() and not data_path.exists():
                atomic_write_table(table.filter(pa.array(keep)), data_path)
            rej_path = out / "rejects" / f"shard-{i:05d}.parquet"
            if self.keep_rejects and not keep.all() and not rej_path.exists():
                atomic_write_table(table.filter(pa.array(~keep)), rej_path)
        report = self._report(report_cols, n, out_rows)
        report.update(
            fingerprint=self.fingerprint(),
            shards=len(shard_paths),
            shards_processed=done,
            shards_resumed=skipped,
            seconds=round(time.perf_counter() - t0, 3),
            output=str(out / "data"),
        )
        atomic_write_json(report, out / "report.json")
        return report

    def _report(self, cols: dict[str, list], n: int, out_rows: int) -> dict[str, Any]:
        """What every step saw, kept and removed (a row counts at the first step that rejected it), why."""
        alive = np.ones(n, bool)
        steps = []
        for s in self.steps:
            name = step_name(s)
            entry: dict[str, Any] = {"name": name, "step": repr(s), "seen": int(alive.sum())}
            kc, rc = f"{name}_keep", f"{name}_reason"
            if kc in cols:
                keep = np.asarray(cols[kc], bool)
                removed = alive & ~keep
                reasons = np.asarray(cols[rc], dtype=object)[removed]
                entry.update(
                    kind="dedup" if is_global_stage(s) else "filter",
                    kept=int((alive & keep).sum()),
                    removed=int(removed.sum()),
                    reasons=dict(Counter(reasons.tolist()).most_common()),
                )
                alive &= keep
            else:
                entry.update(kind="map", kept=entry["seen"], removed=0, reasons={})
            steps.append(entry)
        errors: Counter = Counter()
        for c, values in cols.items():
            if c.endswith("_error"):
                errors.update(v for v in values if v)
            elif c.endswith("_reason"):
                errors.update(v for v in values if v and ":error" in v)
        return {
            "input_rows": n,
            "output_rows": out_rows,
            "removed_rows": n - out_rows,
            "steps": steps,
            "errors": dict(errors.most_common()),
        }


#: deprecated keyword options of ``Pipeline`` (still accepted, in configs too) -> their new names
DEPRECATED_OPTIONS = {"batch_size": "map_batch_size"}
#: keyword options of ``Pipeline`` a config (YAML) may set next to ``steps``
PIPELINE_OPTIONS: tuple[str, ...] = tuple(
    k
    for k in inspect.signature(Pipeline.__init__).parameters
    if k not in ("self", "steps", "progress", *DEPRECATED_OPTIONS)
)


def conform_schema(table, schema):
    """``table`` cast to ``schema`` (null-typed columns take the unified type; missing ones are nulls)."""
    import pyarrow as pa

    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            cols.append(col if col.type == field.type else col.cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _stage(i: int) -> str:
    return f"stage-{i:05d}.parquet"


def _schema_names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(path).names


def _needed_names(pipe: Pipeline) -> list[str]:
    names: list[str] = []
    for s in pipe.steps:
        if is_global_stage(s):
            names += list(s.columns)
        names.append(f"{step_name(s)}_keep")
    return list(dict.fromkeys(names))


def _needed_columns(table, pipe: Pipeline) -> dict[str, list]:
    return {c: table.column(c).to_pylist() for c in _needed_names(pipe) if c in table.column_names}


def _len_or_none(dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _progress(enabled: bool, total: int | None, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="doc")


def as_table(dataset):
    """An Arrow table from a Dataset, a pyarrow Table, a dict of columns or a list of row dicts.

    Args:
        dataset: a ``Dataset``, a ``pyarrow.Table``, a dict of columns or a list of row dicts.

    Examples:

    ```python
    >>> as_table({"text": ["a", "b"]}).num_rows
    2
    ```
    """
    import pyarrow as pa

    if isinstance(dataset, pa.Table):
        return dataset
    if isinstance(dataset, dict):
        return pa.Table.from_pydict(dataset)
    if isinstance(dataset, list):
        return pa.Table.from_pylist(dataset)
    data = getattr(dataset, "data", None)
    if data is not None and hasattr(dataset, "select"):
        if getattr(dataset, "_indices", None) is not None:
            dataset = dataset.flatten_indices()
        return dataset.data.table
    raise TypeError(f"unsupported dataset type {type(dataset).__name__}")


def _shards(dataset, shard_rows: int, skip: Callable[[int], bool]) -> Iterator[tuple[int, Any]]:
    """(index, Arrow table) per shard; ``None`` for shards ``skip`` says are done (not re-read)."""
    import datasets
    import pyarrow as pa

    if isinstance(dataset, datasets.IterableDataset) or (
        not isinstance(dataset, (pa.Table, dict, list)) and not hasattr(dataset, "select")
    ):
        rows: list[dict] = []
        i = 0
        for row in dataset:
            rows.append(row)
            if len(rows) == shard_rows:
                yield i, None if skip(i) else pa.Table.from_pylist(rows)
                rows, i = [], i + 1
        if rows or i == 0:
            yield i, None if skip(i) else pa.Table.from_pylist(rows)
        return
    table = as_table(dataset)
    n = table.num_rows
    for i, start in enumerate(range(0, max(n, 1), shard_rows)):
        yield i, None if skip(i) else table.slice(start, shard_rows)


def default_step_names(html: bool) -> list[str]:
    """The registered steps of the default pipeline in order (the HTML-only ones only when ``html``).

    Args:
        html: whether the input holds HTML (adds the extraction step first).

    Examples:

    ```python
    >>> default_step_names(html=False)
    ['langid', 'gopher_quality', 'gopher_repetition', 'fineweb', 'exact_dedup', 'minhash_dedup']
    ```
    """
    infos = [i for i in registered_steps().values() if i.default is not None and (html or not i.html_only)]
    return [i.name for i in sorted(infos, key=lambda i: i.default)]


def default_steps(html: bool) -> list[Any]:
    """The CLI's pipeline when no config is given: extract (for HTML), rules, language, dedup.

    Args:
        html: whether the input holds HTML (adds the extraction step first).

    Examples:

    ```python
    >>> [type(s).__name__ for s in default_steps(html=True)][:2]
    ['HtmlToMarkdown', 'LanguageFilter']
    ```
    """
    registry = registered_steps()
    return [registry[name].cls() for name in default_step_names(html)]
