"""Exact and MinHash dedup as Ray Data stages: no process ever holds all keys, edges or labels.

The stages read the per-shard files that the map phase wrote (``_work/stage-XXXXX.parquet``, rows
``[k * shard_rows, (k + 1) * shard_rows)`` with a global ``_row_id``) and write their decisions per shard
(``_work/<stage>/dec-XXXXX.parquet``: the removed rows and their cluster id). Every step is a Ray Data
``map_batches`` or a shuffle (``groupby(...).map_groups``); the driver only sees counts.

- keys: ``map_batches`` over shard ids reads a shard's key column and the earlier stages' decisions for it,
  and emits ``(key, _row_id)`` for the rows still eligible (MinHash: one row per band key);
- buckets: ``groupby(key)``; exact -> every row but the smallest is removed with cluster = the smallest;
  MinHash -> star edges from the bucket's smallest row to the others (``len(bucket) - 1`` edges, as
  ``candidate_edges`` does in one process);
- precision mode: edges grouped by the shard of each end read that end's text from its stage file (a join
  on row ids by range), and ``verify_edges`` keeps the pairs whose true Jaccard reaches the threshold;
- connected components: alternating large-star / small-star rounds (Kiveris et al. 2014) over the edge
  list, each one ``groupby``; they stop when a round changes no edge, which leaves every component as a
  star around its smallest row. The leaves are the removed rows, the centre their cluster id — the rule
  of ``connected_components`` (smallest row of a component stays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.executors.pipeline import atomic_write_json, atomic_write_table

ROW_ID = "_row_id"
SHARD = "_shard"


def stage_path(work: Path, k: int) -> Path:
    return work / f"stage-{k:05d}.parquet"


def decision_path(work: Path, stage: str, k: int) -> Path:
    return work / stage / f"dec-{k:05d}.parquet"


def _ids(table, column: str = ROW_ID) -> np.ndarray:
    return np.asarray(table.column(column).to_numpy(zero_copy_only=False), np.int64)


def _empty(**types):
    import pyarrow as pa

    return pa.table({k: pa.array([], t) for k, t in types.items()})


def eligible_rows(
    work: Path, k: int, table, keep_columns: list[str], earlier_stages: list[str]
) -> np.ndarray:
    """Mask of a shard's rows still judged by a dedup stage: kept by every earlier filter and stage."""
    keep = np.ones(table.num_rows, bool)
    for c in keep_columns:
        keep &= np.asarray(table.column(c).to_numpy(zero_copy_only=False), bool)
    start = int(_ids(table)[0]) if table.num_rows else 0
    for stage in earlier_stages:
        p = decision_path(work, stage, k)
        if p.exists():
            import pyarrow.parquet as pq

            keep[_ids(pq.read_table(p, columns=[ROW_ID])) - start] = False
    return keep


class _ShardKeys:
    """``map_batches`` over shard ids: ``(key, _row_id)`` of each shard's eligible rows."""

    def __init__(self, work: str, key_column: str, keep_columns: list[str], earlier: list[str]) -> None:
        self.work, self.key_column, self.keep_columns, self.earlier = (
            Path(work),
            key_column,
            keep_columns,
            earlier,
        )
        self.__name__ = type(self).__name__  # Ray Data names the operator after it

    def __call__(self, batch):
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = []
        for k in np.asarray(batch[SHARD].to_numpy(), np.int64).tolist():
            path = stage_path(self.work, k)
            names = set(pq.read_schema(path).names)
            cols = [ROW_ID, self.key_column] + [c for c in self.keep_columns if c in names]
            t = pq.read_table(path, columns=cols)
            ok = eligible_rows(self.work, k, t, [c for c in self.keep_columns if c in names], self.earlier)
            ids = _ids(t)[ok]
            if self.key_column == "minhash_bands":
                bands = t.column("minhash_bands").filter(pa.array(ok)).combine_chunks()
                keys = np.asarray(bands.flatten().to_numpy(), np.int64)
                per = len(keys) // max(len(ids), 1)
                parts.append(pa.table({"key": keys, ROW_ID: np.repeat(ids, per)}))
            else:
                parts.append(pa.table({"key": t.column(self.key_column).filter(pa.array(ok)), ROW_ID: ids}))
        return pa.concat_tables(parts) if parts else _empty(key=pa.int64(), **{ROW_ID: pa.int64()})


def _exact_group(group):
    """One hash bucket: every row but the smallest is removed, its cluster id the smallest row."""
    import pyarrow as pa

    ids = np.unique(_ids(group))
    return pa.table({ROW_ID: ids[1:], "cluster": np.full(len(ids) - 1, ids[0] if len(ids) else 0)})


def _star_edges(group):
    """One LSH bucket: an edge (big=row, small=the bucket's smallest row) per other row."""
    import pyarrow as pa

    ids = np.unique(_ids(group))
    return pa.table({"big": ids[1:], "small": np.full(len(ids) - 1, ids[0] if len(ids) else 0)})


def _add_shard(column: str, shard_rows: int):
    def fn(table):
        import pyarrow as pa

        return table.append_column(SHARD, pa.array(_ids(table, column) // shard_rows))

    return fn


class _AttachText:
    """Group = the edges whose ``end`` lies in one shard: adds that end's text, read from its stage file.

    The first pass (``end="small"``) also drops repeated pairs: all copies of a pair share their group.
    """

    def __init__(self, work: str, text_column: str, end: str) -> None:
        self.work, self.text_column, self.end = Path(work), text_column, end
        self.__name__ = type(self).__name__  # Ray Data names the operator after it

    def __call__(self, group):
        import pyarrow as pa
        import pyarrow.parquet as pq

        k = int(group.column(SHARD)[0].as_py())
        t = pq.read_table(stage_path(self.work, k), columns=[ROW_ID, self.text_column])
        start = int(_ids(t)[0])
        if self.end == "small":
            pairs = np.unique(np.stack([_ids(group, "big"), _ids(group, "small")], axis=1), axis=0)
            group = pa.table({"big": pairs[:, 0], "small": pairs[:, 1]})
        else:
            group = group.drop_columns([SHARD])
        texts = t.column(self.text_column).take(pa.array(_ids(group, self.end) - start))
        return group.append_column(f"text_{self.end}", texts)


class _Verify:
    """Keeps the candidate pairs whose true shingle Jaccard reaches the threshold (``verify_edges``)."""

    def __init__(self, threshold: float, ngram: int) -> None:
        self.threshold, self.ngram = threshold, ngram
        self.__name__ = type(self).__name__  # Ray Data names the operator after it

    def __call__(self, table):
        import pyarrow as pa

        from hf_addons.data.dedup.minhash import verify_edges

        m = table.num_rows
        if not m:
            return _empty(big=pa.int64(), small=pa.int64())
        texts = table.column("text_big").to_pylist() + table.column("text_small").to_pylist()
        local = np.stack([np.arange(m), np.arange(m) + m], axis=1)
        ok = np.zeros(m, bool)
        ok[verify_edges(local, texts, self.threshold, self.ngram)[:, 0]] = True
        return table.select(["big", "small"]).filter(pa.array(ok))


def _both_directions(table):
    import pyarrow as pa

    big, small = _ids(table, "big"), _ids(table, "small")
    return pa.table({"u": np.concatenate([big, small]), "v": np.concatenate([small, big])})


def _large_star(group):
    """Node u: link each larger neighbour to the smallest of u's closed neighbourhood."""
    import pyarrow as pa

    u = int(group.column("u")[0].as_py())
    nbrs = np.unique(_ids(group, "v"))
    m = min(int(nbrs[0]), u)
    bigger = nbrs[nbrs > u]
    return pa.table(
        {"big": bigger, "small": np.full(len(bigger), m), "changed": np.full(len(bigger), int(m < u))}
    )


def _small_star(group):
    """Node u (its smaller neighbours): link u and each of them to the smallest of them."""
    import pyarrow as pa

    u = int(group.column("big")[0].as_py())
    nbrs = np.unique(_ids(group, "small"))
    m = int(nbrs[0])
    nodes = np.concatenate([nbrs[1:], [u]])
    return pa.table(
        {"big": nodes, "small": np.full(len(nodes), m), "changed": np.full(len(nodes), int(len(nbrs) > 1))}
    )


def connected_component_leaves(edges, num_partitions: int, max_rounds: int = 64):
    """Large-star / small-star until a round changes nothing; returns ``(_row_id, cluster)`` of the leaves.

    ``edges``: a Ray dataset of ``(big, small)`` pairs (duplicates allowed). The driver reads one changed
    count per half-round. Returns the dataset of leaves and the number of rounds.
    """
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - returned after the loop
        large = (
            edges.map_batches(_both_directions, batch_format="pyarrow")
            .groupby("u", num_partitions=num_partitions)
            .map_groups(_large_star, batch_format="pyarrow")
            .materialize()
        )
        c1 = large.sum("changed") or 0
        small = (
            large.select_columns(["big", "small"])
            .groupby("big", num_partitions=num_partitions)
            .map_groups(_small_star, batch_format="pyarrow")
            .materialize()
        )
        c2 = small.sum("changed") or 0
        edges = small.select_columns(["big", "small"])
        if c1 == 0 and c2 == 0:
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    leaves = edges.map_batches(
        lambda t: t.rename_columns([ROW_ID, "cluster"]), batch_format="pyarrow"
    ).materialize()
    return leaves, rounds


class _WriteDecisions:
    """Group = one shard's removed rows: written atomically to ``<stage>/dec-XXXXX.parquet``."""

    def __init__(self, work: str, stage: str) -> None:
        self.work, self.stage = Path(work), stage
        self.__name__ = type(self).__name__  # Ray Data names the operator after it

    def __call__(self, group):
        import pyarrow as pa

        k = int(group.column(SHARD)[0].as_py())
        order = np.argsort(_ids(group), kind="stable")
        t = group.select([ROW_ID, "cluster"]).take(pa.array(order))
        atomic_write_table(t, decision_path(self.work, self.stage, k))
        return pa.table({SHARD: [k], "rows": [t.num_rows]})


def dedup_stage(
    stage: Any,
    work: Path,
    num_shards: int,
    shard_rows: int,
    keep_columns: list[str],
    earlier: list[str],
    num_partitions: int,
) -> dict[str, Any]:
    """Run one dedup stage (``ExactDeduplicator`` or ``MinHashDeduplicator``) over the stage files.

    Writes ``work/<stage.name>/dec-*.parquet`` and the marker ``work/<stage.name>/_done``; returns counts.
    """
    import ray.data

    from hf_addons.data.dedup.minhash import ExactDeduplicator

    exact = isinstance(stage, ExactDeduplicator)
    shards = ray.data.from_items([{SHARD: k} for k in range(num_shards)]).repartition(
        max(1, min(num_shards, num_partitions * 2))
    )
    keys = shards.map_batches(
        _ShardKeys(str(work), "exact_hash" if exact else "minhash_bands", keep_columns, earlier),
        batch_format="pyarrow",
        batch_size=1,
    )
    stats: dict[str, Any] = {}
    grouped = keys.groupby("key", num_partitions=num_partitions)
    if exact:
        removed = grouped.map_groups(_exact_group, batch_format="pyarrow").materialize()
    else:
        edges = grouped.map_groups(_star_edges, batch_format="pyarrow").materialize()
        stats["candidate_edges"] = edges.count()
        if stage.verify_threshold is not None and stats["candidate_edges"]:
            for end in ("small", "big"):
                edges = (
                    edges.map_batches(_add_shard(end, shard_rows), batch_format="pyarrow")
                    .groupby(SHARD, num_partitions=num_partitions)
                    .map_groups(_AttachText(str(work), stage.text_column, end), batch_format="pyarrow")
                )
            edges = edges.map_batches(
                _Verify(stage.verify_threshold, stage.params.ngram), batch_format="pyarrow"
            ).materialize()
            stats["verified_edges"] = edges.count()
        if edges.count():
            removed, stats["cc_rounds"] = connected_component_leaves(edges, num_partitions)
        else:
            removed, stats["cc_rounds"] = None, 0
    out = work / stage.name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("dec-*.parquet"):  # a stage redone from scratch leaves no file of an earlier try
        old.unlink()
    n_removed = removed.count() if removed is not None else 0
    if n_removed:
        removed.map_batches(_add_shard(ROW_ID, shard_rows), batch_format="pyarrow").groupby(
            SHARD, num_partitions=num_partitions
        ).map_groups(_WriteDecisions(str(work), stage.name), batch_format="pyarrow").materialize()
    stats["removed"] = n_removed
    atomic_write_json(stats, out / "_done")
    return stats
