"""The same ``Pipeline`` on Ray Data (``pip install hf-addons[ray]``), near-dedup included.

Map steps run unchanged through ``map_batches``. Dedup is distributed the datatrove way: band keys per
block -> one row per (document, band key) -> ``groupby(key)`` -> an edge from each bucket's smallest
document to the others -> connected components over the (small) edge list on the driver -> decisions
joined back by row id. The result equals ``Pipeline.apply`` row for row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_addons.data.executors.pipeline import (
    Pipeline,
    as_table,
    atomic_write_json,
    is_global_stage,
    step_name,
)

ROW_ID = "_row_id"


class _ArrowChain:
    """Wraps the pipeline's chained steps for ``map_batches(batch_format="pyarrow")``."""

    def __init__(self, chain) -> None:
        self.chain = chain

    def __call__(self, table):
        import pyarrow as pa

        return pa.Table.from_pydict(self.chain(table.to_pydict()))


def _explode_bands(table):
    """One row per (document, band key) for documents still eligible."""
    import pyarrow as pa

    ids = np.asarray(table.column(ROW_ID).to_numpy(zero_copy_only=False), np.int64)
    keep = np.asarray(table.column("_eligible").to_numpy(zero_copy_only=False), bool)
    bands = table.column("minhash_bands").to_pylist()
    if not len(ids):
        return pa.table({"key": pa.array([], pa.int64()), ROW_ID: pa.array([], pa.int64())})
    arr = np.asarray(bands, np.int64)[keep]
    nb = arr.shape[1] if arr.ndim == 2 else 0
    return pa.table({"key": arr.reshape(-1), ROW_ID: np.repeat(ids[keep], nb)})


def _bucket_edges(group):
    """Edges (smallest id in the bucket -> every other id) for one band bucket."""
    import pyarrow as pa

    ids = np.unique(np.asarray(group.column(ROW_ID).to_numpy(zero_copy_only=False), np.int64))
    if len(ids) < 2:
        return pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    return pa.table({"a": np.full(len(ids) - 1, ids[0]), "b": ids[1:]})


def _count_rows(table) -> int:
    return table.num_rows


def _with_row_ids(table, start: int):
    import pyarrow as pa

    return table.append_column(ROW_ID, pa.array(np.arange(start, start + table.num_rows, dtype=np.int64)))


class _AttachDecisions:
    """Appends the global-stage columns (held once per worker from the object store) by row id."""

    def __init__(self, ref) -> None:
        self.ref = ref
        self._cols: dict[str, np.ndarray] | None = None

    def __call__(self, table):
        import pyarrow as pa
        import ray

        if self._cols is None:
            self._cols = ray.get(self.ref)
        ids = np.asarray(table.column(ROW_ID).to_numpy(zero_copy_only=False), np.int64)
        for name, values in self._cols.items():
            table = table.append_column(name, pa.array(values[ids].tolist()))
        return table


class _KeepRows:
    """Row filter on the ``*_keep`` columns (for the output written by the workers)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    def __call__(self, table):
        import pyarrow as pa

        keep = np.ones(table.num_rows, bool)
        for c in self.columns:
            if c in table.column_names:
                keep &= np.asarray(table.column(c).to_pylist(), bool)
        return table.filter(pa.array(keep)).drop_columns([ROW_ID])


def run_ray(
    pipeline: Pipeline, dataset: Any, *, num_blocks: int | None = None, output_dir: str | None = None
):
    """Run ``pipeline`` on Ray Data; returns a ``ray.data.Dataset`` whose rows equal ``pipeline.apply``.

    Map steps and the attachment of dedup decisions run on the workers; only the small columns that
    the global stages need (row id, band keys or hashes, keep flags, reasons) come to the driver. With
    ``output_dir`` the kept rows are written as Parquet by the workers (``output_dir/data``) and the
    report to ``output_dir/report.json``. ``to_table(result)`` gives the rows in input order.
    ``dataset`` is a ``ray.data.Dataset``, a ``datasets.Dataset`` or an Arrow table; Ray must be
    initialised (``ray.init(...)``) or it starts a local instance.

    Args:
        pipeline: the :class:`~hf_addons.data.executors.pipeline.Pipeline` whose steps run.
        dataset: a ``ray.data.Dataset``, a ``datasets.Dataset`` or an Arrow table.
        num_blocks: Ray blocks to split the input into (None: Ray's choice).
        output_dir: write the kept rows and ``report.json`` there (None: return the dataset only).

    Examples:

    ```python
    >>> import ray  # doctest: +SKIP
    >>> result = run_ray(Pipeline([FineWebFilter(), MinHashDeduplicator()]), ds, num_blocks=8)  # doctest: +SKIP
    >>> to_table(result).num_rows  # doctest: +SKIP
    ```
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("run_ray needs Ray Data: pip install 'hf-addons[ray]'") from exc
    import pyarrow as pa

    from hf_addons.data.dedup.minhash import ExactDeduplicator, connected_components

    if isinstance(dataset, ray.data.Dataset):
        # global row ids without collecting the rows: count per block, then offset each block remotely
        refs = dataset.to_arrow_refs()
        counts = ray.get([ray.remote(_count_rows).remote(r) for r in refs])
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        ds = ray.data.from_arrow_refs([ray.remote(_with_row_ids).remote(r, o) for r, o in zip(refs, offsets)])
        n = int(sum(counts))
    else:
        table = as_table(dataset)
        n = table.num_rows
        ds = ray.data.from_arrow(_with_row_ids(table, 0))
    if num_blocks:
        ds = ds.repartition(num_blocks)
    mapped = ds.map_batches(
        _ArrowChain(pipeline.map_function()), batch_format="pyarrow", batch_size=pipeline.map_batch_size
    ).materialize()

    schema_names = mapped.schema().names
    small_cols = [ROW_ID] + [
        c
        for c in schema_names
        if c.endswith(("_keep", "_reason", "_error")) or c in ("exact_hash", "minhash_bands")
    ]
    small = pa.concat_tables(ray.get(mapped.select_columns(small_cols).to_arrow_refs())).sort_by(ROW_ID)

    eligible = np.ones(n, bool)
    decisions: dict[str, np.ndarray] = {}
    for s in pipeline.steps:
        name = step_name(s)
        if not is_global_stage(s):
            if f"{name}_keep" in small.column_names:
                eligible &= np.asarray(small.column(f"{name}_keep").to_pylist(), bool)
            continue
        if isinstance(s, ExactDeduplicator):
            cluster, keep = s.cluster({"exact_hash": small.column("exact_hash").to_pylist()}, eligible)
        elif s.verify_threshold is not None:
            # precision mode: every candidate pair of a bucket (bucket_pairs) on the driver, which already
            # holds the band keys; only the candidates' texts are read back from the workers
            bands = np.asarray(small.column("minhash_bands").to_pylist(), np.int64)
            cluster, keep = s.cluster(
                {"minhash_bands": bands},
                eligible,
                fetch_texts=lambda column, ids: _texts_of(mapped, column, ids),
            )
        else:
            cluster = connected_components(n, _distributed_edges(small, eligible, num_blocks))
            keep = cluster == np.arange(n)
        keep = np.asarray(keep, bool) | ~eligible
        decisions[f"{name}_cluster"] = np.asarray(cluster, np.int64)
        decisions[f"{name}_keep"] = keep
        decisions[f"{name}_reason"] = np.where(keep, "", f"{name}:duplicate").astype(object)
        eligible &= keep

    result = (
        mapped.map_batches(_AttachDecisions(ray.put(decisions)), batch_format="pyarrow")
        if decisions
        else mapped
    )
    if output_dir is not None:
        from pathlib import Path

        out = Path(output_dir)
        keep_cols = pipeline.keep_columns()
        kept = result.map_batches(_KeepRows(keep_cols), batch_format="pyarrow")
        kept.write_parquet(str(out / "data"))
        cols = {c: small.column(c).to_pylist() for c in small.column_names if c != ROW_ID}
        cols.update({k: v.tolist() for k, v in decisions.items()})
        keep_all = np.ones(n, bool)
        for c in keep_cols:
            if c in cols:
                keep_all &= np.asarray(cols[c], bool)
        report = pipeline._report(cols, n, int(keep_all.sum()))
        report.update(backend="ray", output=str(out / "data"))
        atomic_write_json(report, out / "report.json")
    return result


def _distributed_edges(small, eligible: np.ndarray, num_blocks: int | None) -> np.ndarray:
    """Band keys -> one row per (document, key) -> ``groupby(key)`` -> bucket edges, on the workers."""
    import pyarrow as pa
    import ray
    import ray.data

    bands = pa.table(
        {ROW_ID: small.column(ROW_ID), "minhash_bands": small.column("minhash_bands"), "_eligible": eligible}
    )
    exploded = ray.data.from_arrow(bands).map_batches(_explode_bands, batch_format="pyarrow")
    parts = num_blocks or max(1, int(ray.available_resources().get("CPU", 1)))
    edge_ds = exploded.groupby("key", num_partitions=parts).map_groups(_bucket_edges, batch_format="pyarrow")
    refs = ray.get(edge_ds.to_arrow_refs())
    et = pa.concat_tables(refs) if refs else None
    if et is None or not et.num_rows:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.stack([et.column("a").to_numpy(), et.column("b").to_numpy()], axis=1), axis=0)


def _texts_of(mapped, column: str, edges: np.ndarray) -> dict[int, str]:
    """The texts of the rows in ``edges`` (pairs or row ids) only (for the precision-mode check)."""
    import pyarrow as pa
    import ray

    wanted = np.unique(edges)

    def pick(table):
        ids = np.asarray(table.column(ROW_ID).to_numpy(zero_copy_only=False), np.int64)
        return table.select([ROW_ID, column]).filter(pa.array(np.isin(ids, wanted)))

    got = pa.concat_tables(ray.get(mapped.map_batches(pick, batch_format="pyarrow").to_arrow_refs()))
    return dict(zip(got.column(ROW_ID).to_pylist(), got.column(column).to_pylist()))


def to_table(result) -> Any:
    """A Ray result as one Arrow table in input order, without the internal row id.

    Args:
        result: what :func:`run_ray` returned.

    Examples:

    ```python
    >>> table = to_table(run_ray(pipe, ds))  # doctest: +SKIP
    ```
    """
    import pyarrow as pa
    import ray

    table = pa.concat_tables(ray.get(result.to_arrow_refs()), promote_options="default").sort_by(ROW_ID)
    return table.drop_columns([ROW_ID])
