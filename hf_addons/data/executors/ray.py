"""The same ``Pipeline`` on a Ray cluster (``pip install hf-addons[ray]``), resumable shard by shard.

``run_ray`` writes what ``Pipeline.run`` writes — ``data/shard-XXXXX.parquet`` (same shards, same rows,
same columns), optional ``rejects/``, ``report.json`` — in three phases under ``output_dir/_work``:

1. map: one Ray task per input shard (rows ``[k * shard_rows, (k + 1) * shard_rows)``) runs the map steps
   and writes ``stage-XXXXX.parquet`` with a global ``_row_id`` (skipped when present);
2. dedup: each global stage runs as Ray Data stages over those files (:mod:`.ray_dedup`) and writes the
   removed rows per shard (skipped when its ``_done`` marker is present);
3. write: one task per shard joins the decisions back and writes the kept rows (skipped when present).

Every file goes to a temporary name and is renamed, and every name is a function of the shard index, so a
run whose driver or workers were killed reruns to identical output. ``output_dir`` must be storage that
every node reads and writes (a local disk for a one-machine cluster, a shared file system otherwise).
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.executors.pipeline import (
    Pipeline,
    as_table,
    atomic_write_json,
    atomic_write_table,
    conform_schema,
    is_global_stage,
    step_name,
)
from hf_addons.data.executors.ray_dedup import ROW_ID, decision_path, dedup_stage, stage_path


def _map_shard(pipeline: Pipeline, work: str, k: int, start: int, *pieces) -> int:
    """Map steps over one shard (pieces of input blocks, concatenated) -> ``stage-k.parquet``."""
    import pyarrow as pa

    table = pa.concat_tables(pieces, promote_options="default") if len(pieces) > 1 else pieces[0]
    mapped = pipeline._map_table(table)
    ids = pa.array(np.arange(start, start + table.num_rows, dtype=np.int64))
    atomic_write_table(mapped.append_column(ROW_ID, ids), stage_path(Path(work), k))
    return table.num_rows


def _slice_ref(block, offset: int, length: int):
    return block.slice(offset, length)


def _count_rows(block) -> int:
    return block.num_rows


def _write_shard(pipeline: Pipeline, out: str, k: int, schema, stages: list[str]) -> dict[str, Any]:
    """Phase 3 for one shard: decisions joined back, kept rows (and rejects) written, a partial report."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_p = Path(out)
    work = out_p / "_work"
    raw = pq.read_table(stage_path(work, k))
    ids = np.asarray(raw.column(ROW_ID).to_numpy(), np.int64)
    table = conform_schema(raw.drop_columns([ROW_ID]), schema)
    rows = table.num_rows
    for name in stages:
        cluster = ids.copy()
        p = decision_path(work, name, k)
        if p.exists():
            dec = pq.read_table(p)
            cluster[np.asarray(dec.column(ROW_ID).to_numpy(), np.int64) - ids[0]] = dec.column(
                "cluster"
            ).to_numpy()
        keep = cluster == ids
        table = table.append_column(f"{name}_cluster", pa.array(cluster))
        table = table.append_column(f"{name}_keep", pa.array(keep))
        table = table.append_column(
            f"{name}_reason", pa.array(np.where(keep, "", f"{name}:duplicate").tolist())
        )
    keep = np.ones(rows, bool)
    for c in pipeline.keep_columns():
        if c in table.column_names:
            keep &= np.asarray(table.column(c).to_numpy(zero_copy_only=False), bool)
    data_path = out_p / "data" / f"shard-{k:05d}.parquet"
    if keep.any() and not data_path.exists():
        atomic_write_table(table.filter(pa.array(keep)), data_path)
    rej_path = out_p / "rejects" / f"shard-{k:05d}.parquet"
    if pipeline.keep_rejects and not keep.all() and not rej_path.exists():
        atomic_write_table(table.filter(pa.array(~keep)), rej_path)
    cols = {
        c: table.column(c).to_pylist()
        for c in table.column_names
        if c.endswith(("_keep", "_reason", "_error"))
    }
    report = pipeline._report(cols, rows, int(keep.sum()))
    atomic_write_json(report, work / f"report-{k:05d}.json")
    return report


def merge_reports(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum per-shard reports (every count is a sum over rows, so the merge is exact)."""
    total: dict[str, Any] = {
        "input_rows": 0,
        "output_rows": 0,
        "removed_rows": 0,
        "steps": [],
        "errors": Counter(),
    }
    for part in parts:
        for key in ("input_rows", "output_rows", "removed_rows"):
            total[key] += part[key]
        total["errors"].update(part["errors"])
        if not total["steps"]:
            total["steps"] = [dict(s, reasons=Counter(s["reasons"])) for s in part["steps"]]
            continue
        for acc, s in zip(total["steps"], part["steps"]):
            for key in ("seen", "kept", "removed"):
                acc[key] += s[key]
            acc["reasons"].update(s["reasons"])
    for s in total["steps"]:
        s["reasons"] = dict(s["reasons"].most_common())
    total["errors"] = dict(total["errors"].most_common())
    return total


def _submit_map_tasks(dataset, pipeline: Pipeline, work: Path, remote_map, max_in_flight: int) -> list[int]:
    """Cut the input into shards of ``shard_rows`` rows and map each missing one; returns rows per shard.

    A ``ray.data.Dataset`` is cut on the workers (block refs and row counts only reach the driver); other
    inputs are converted to Arrow in the driver and sliced.
    """
    import ray
    import ray.data

    S = pipeline.shard_rows
    counts: list[int] = []
    pending: list = []

    def submit(k: int, start: int, pieces: list) -> None:
        nonlocal pending
        if stage_path(work, k).exists():
            return
        pending.append(remote_map.remote(pipeline, str(work), k, start, *pieces))
        if len(pending) >= max_in_flight:
            _, pending = ray.wait(pending, num_returns=len(pending) - max_in_flight + 1)

    if isinstance(dataset, ray.data.Dataset):
        refs = dataset.to_arrow_refs()
        sizes = ray.get([ray.remote(_count_rows).remote(r) for r in refs])
        slicer = ray.remote(_slice_ref)
        n = int(sum(sizes))
        pieces: list = []
        k, filled, start = 0, 0, 0
        for ref, size in zip(refs, sizes):
            off = 0
            while off < size:
                take = min(size - off, S - filled)
                pieces.append(ref if (off == 0 and take == size) else slicer.remote(ref, off, take))
                off += take
                filled += take
                if filled == S:
                    submit(k, start, pieces)
                    counts.append(S)
                    k, start, filled, pieces = k + 1, start + S, 0, []
        if filled or not counts:
            if not pieces:
                pieces = [slicer.remote(refs[0], 0, 0)] if refs else [ray.put(_empty_like(dataset))]
            submit(k, start, pieces)
            counts.append(filled)
        assert sum(counts) == n
    else:
        table = as_table(dataset)
        n = table.num_rows
        for k, start in enumerate(range(0, max(n, 1), S)):
            piece = table.slice(start, S)
            submit(k, start, [piece])
            counts.append(piece.num_rows)
    ray.get(pending)
    return counts


def _empty_like(dataset):
    import pyarrow as pa

    return pa.schema(
        [(f, dataset.schema().types[i]) for i, f in enumerate(dataset.schema().names)]
    ).empty_table()


def run_ray(
    pipeline: Pipeline,
    dataset: Any,
    output_dir: str,
    *,
    num_partitions: int | None = None,
    max_in_flight: int | None = None,
) -> dict[str, Any]:
    """Run ``pipeline`` on the Ray cluster ``ray.init`` connected to; returns (and writes) the report.

    Args:
        pipeline: the steps; ``shard_rows`` sets the shards (and the output files), ``map_batch_size`` the
            batches inside a shard. Output equals ``pipeline.run(dataset, output_dir)``.
        dataset: a ``ray.data.Dataset`` (read on the workers, e.g. ``ray.data.read_parquet``), a
            ``datasets.Dataset`` or an Arrow table. Its row order must be the same on a rerun.
        output_dir: storage every node can read and write; a rerun into it resumes.
        num_partitions: shuffle partitions of the dedup stages (default: the cluster's CPUs).
        max_in_flight: map tasks submitted at once (default: 2 x CPUs), which bounds the object store.

    Examples:

    ```python
    >>> import ray  # doctest: +SKIP
    >>> ray.init(address="auto")  # doctest: +SKIP
    >>> report = run_ray(Pipeline([FineWebFilter(), MinHashDeduplicator()]), ds, "shared/out")  # doctest: +SKIP
    ```
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("run_ray needs Ray Data: pip install 'hf-addons[ray]'") from exc

    ctx = ray.data.DataContext.get_current()
    before = ctx.shuffle_strategy, ctx.execution_options.preserve_order
    ctx.execution_options.preserve_order = True  # shards are row ranges of the input order
    # task-based sort shuffle: no aggregator actors to start per groupby (minutes on a busy small cluster)
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        return _run(pipeline, dataset, output_dir, num_partitions, max_in_flight)
    finally:
        ctx.shuffle_strategy, ctx.execution_options.preserve_order = before


def _run(pipeline: Pipeline, dataset: Any, output_dir: str, num_partitions, max_in_flight) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    t0 = time.perf_counter()
    if not ray.is_initialized():
        ray.init()
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    num_partitions = num_partitions or cpus
    out = Path(output_dir).resolve()
    finished = pipeline.open_output(out)
    if finished is not None:  # a finished run: nothing to redo
        return finished
    work = out / "_work"

    worker_pipe = copy.copy(pipeline)
    worker_pipe.num_proc = None  # one task per shard; Ray gives the parallelism
    worker_pipe.progress = False
    timings: dict[str, float] = {}

    # phase 1: map steps per shard
    shards_path = work / "shards.json"
    t = time.perf_counter()
    if shards_path.exists():
        counts = json.loads(shards_path.read_text())["rows"]
        skipped = len(counts)
    else:
        done_before = {p.name for p in work.glob("stage-*.parquet")}
        remote_map = ray.remote(max_retries=3)(_map_shard)
        counts = _submit_map_tasks(dataset, worker_pipe, work, remote_map, max_in_flight or 2 * cpus)
        skipped = sum(stage_path(work, k).name in done_before for k in range(len(counts)))
        atomic_write_json({"rows": counts}, shards_path)
    timings["map"] = time.perf_counter() - t
    num_shards, n = len(counts), int(sum(counts))

    # phase 2: dedup stages, each over the stage files
    stages: list[str] = []
    keep_before: list[str] = []
    dedup_stats: dict[str, Any] = {}
    for s in pipeline.steps:
        name = step_name(s)
        if not is_global_stage(s):
            keep_before.append(f"{name}_keep")
            continue
        done = work / name / "_done"
        t = time.perf_counter()
        if done.exists():
            dedup_stats[name] = json.loads(done.read_text())
        else:
            dedup_stats[name] = dedup_stage(
                s, work, num_shards, pipeline.shard_rows, list(keep_before), list(stages), num_partitions
            )
        timings[name] = time.perf_counter() - t
        stages.append(name)
        keep_before.append(f"{name}_keep")

    # phase 3: decisions joined back per shard, kept rows written
    t = time.perf_counter()
    schema = pa.unify_schemas(
        [pq.read_schema(stage_path(work, k)) for k in range(num_shards)], promote_options="permissive"
    )
    schema = schema.remove(schema.get_field_index(ROW_ID))
    remote_write = ray.remote(max_retries=3)(_write_shard)
    parts: list = []
    for k in range(num_shards):
        rp = work / f"report-{k:05d}.json"
        parts.append(
            json.loads(rp.read_text())
            if rp.exists()
            else remote_write.remote(worker_pipe, str(out), k, schema, stages)
        )
    refs = [p for p in parts if not isinstance(p, dict)]
    got = dict(zip(refs, ray.get(refs)))
    report = merge_reports([p if isinstance(p, dict) else got[p] for p in parts])
    for entry, s in zip(report["steps"], pipeline.steps):  # the driver's repr (set order is per process)
        entry["step"] = repr(s)
    timings["write"] = time.perf_counter() - t
    report.update(
        fingerprint=pipeline.fingerprint(),
        shards=num_shards,
        shards_processed=num_shards - skipped,
        shards_resumed=skipped,
        seconds=round(time.perf_counter() - t0, 3),
        output=str(out / "data"),
        backend="ray",
        dedup=dedup_stats,
        phase_seconds={k: round(v, 3) for k, v in timings.items()},
    )
    assert report["input_rows"] == n
    atomic_write_json(report, out / "report.json")
    return report


def read_files(specs: list[str]):
    """A ``ray.data.Dataset`` over Parquet or JSONL files/directories (read on the workers), else ``None``.

    Files are listed in the order ``load_input`` uses (directories sorted), so both paths number rows alike.
    WARC input and Hub names return ``None``: the caller loads them with ``load_input`` in the driver.
    """
    import ray.data

    from hf_addons.data.readers.files import input_kind

    files: list[Path] = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and input_kind(f))
        elif p.exists():
            files.append(p)
        else:
            return None
    kinds = {input_kind(f) for f in files}
    if not files or len(kinds) != 1 or kinds == {"warc"} or None in kinds:
        return None
    paths = [str(f.resolve()) for f in files]
    return ray.data.read_parquet(paths) if kinds == {"parquet"} else ray.data.read_json(paths)
