"""The same ``Pipeline`` on Ray Data (``pip install hf-addons[ray]``), near-dedup included.

Map steps run unchanged through ``map_batches``. Dedup is distributed the datatrove way: band keys per
block -> one row per (document, band key) -> ``groupby(key)`` -> an edge from each bucket's smallest
document to the others -> connected components over the (small) edge list on the driver -> decisions
joined back by row id. The result equals ``Pipeline.apply`` row for row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_addons.data.pipeline import Pipeline, _as_table, _is_global, step_name

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


def run_ray(pipeline: Pipeline, dataset: Any, *, num_blocks: int | None = None):
    """Run ``pipeline`` on Ray Data; returns an Arrow table equal to ``pipeline.apply(dataset)``.

    ``dataset`` is a ``datasets.Dataset``, Arrow table or a ``ray.data.Dataset``; Ray must be initialised
    (``ray.init(...)``) or it starts a local instance.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("run_ray needs Ray Data: pip install 'hf-addons[ray]'") from exc
    import pyarrow as pa

    from hf_addons.data.dedup import ExactDeduplicator, connected_components, verify_edges

    if isinstance(dataset, ray.data.Dataset):
        table = pa.concat_tables(ray.get(dataset.to_arrow_refs()))
    else:
        table = _as_table(dataset)
    n = table.num_rows
    table = table.append_column(ROW_ID, pa.array(np.arange(n, dtype=np.int64)))
    ds = ray.data.from_arrow(table)
    if num_blocks:
        ds = ds.repartition(num_blocks)
    mapped = ds.map_batches(
        _ArrowChain(pipeline.map_function()), batch_format="pyarrow", batch_size=pipeline.batch_size
    )
    result = pa.concat_tables(ray.get(mapped.to_arrow_refs()), promote_options="default")
    result = result.sort_by(ROW_ID)

    eligible = np.ones(n, bool)
    for s in pipeline.steps:
        name = step_name(s)
        if not _is_global(s):
            if f"{name}_keep" in result.column_names:
                eligible &= np.asarray(result.column(f"{name}_keep").to_pylist(), bool)
            continue
        if isinstance(s, ExactDeduplicator):
            cluster, keep = s.cluster({"exact_hash": result.column("exact_hash").to_pylist()}, eligible)
        else:
            bands = pa.table(
                {
                    ROW_ID: result.column(ROW_ID),
                    "minhash_bands": result.column("minhash_bands"),
                    "_eligible": pa.array(eligible),
                }
            )
            exploded = ray.data.from_arrow(bands).map_batches(_explode_bands, batch_format="pyarrow")
            parts = num_blocks or max(1, int(ray.available_resources().get("CPU", 1)))
            edge_ds = exploded.groupby("key", num_partitions=parts).map_groups(_bucket_edges, batch_format="pyarrow")
            refs = ray.get(edge_ds.to_arrow_refs())
            edges = np.zeros((0, 2), np.int64)
            if refs:
                et = pa.concat_tables(refs)
                if et.num_rows:
                    edges = np.unique(
                        np.stack([et.column("a").to_numpy(), et.column("b").to_numpy()], axis=1), axis=0
                    )
            if s.verify_threshold is not None:
                edges = verify_edges(
                    edges, result.column(s.text_column).to_pylist(), s.verify_threshold, s.params.ngram
                )
            cluster = connected_components(n, edges)
            keep = cluster == np.arange(n)
        keep = np.asarray(keep, bool) | ~eligible
        result = result.append_column(f"{name}_cluster", pa.array(np.asarray(cluster).tolist()))
        result = result.append_column(f"{name}_keep", pa.array(keep.tolist()))
        result = result.append_column(
            f"{name}_reason", pa.array(np.where(keep, "", f"{name}:duplicate").tolist())
        )
        eligible &= keep
    return result.drop_columns([ROW_ID])
