"""Exact and MinHash dedup as Ray Data stages: no process ever holds all keys, edges or labels.

The stages read the per-shard files that the map phase wrote (``_work/stage-XXXXX.parquet``, rows
``[k * shard_rows, (k + 1) * shard_rows)`` with a global ``_row_id``) and write their decisions per shard
(``_work/<stage>/dec-XXXXX.parquet``: the removed rows and their cluster id). Every step is a Ray Data
``map_batches`` or a shuffle; the driver only sees counts.

Every shuffle on keys is a ``groupby`` on a hash partition of the key (``_part``, a few partitions of up to
``KEYS_PER_PARTITION`` rows), and each partition is handled by vectorised sorts (``sort_indices``, bucket
starts by comparing neighbours) — one Python call per partition, not one per bucket or per node:

- keys: ``map_batches`` over shard ids reads a shard's key column and the earlier stages' decisions for it,
  and emits ``(key, _row_id, _part)`` for the rows still eligible (MinHash: one row per band key);
- buckets: exact -> every row but the smallest of its bucket is removed with cluster = the smallest;
  MinHash -> star edges from the bucket's smallest row to the others (``len(bucket) - 1`` edges, as
  ``candidate_edges`` does in one process);
- precision mode: edges grouped by the shard of each end read that end's text from its stage file (a join
  on row ids by range), and ``verify_edges`` keeps the pairs whose true Jaccard reaches the threshold;
- connected components: alternating large-star / small-star rounds (Kiveris et al. 2014) over the edge
  list, each one shuffle; they stop when a round changes no edge, which leaves every component as a
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
PART = "_part"
# rows of one shuffle partition (16-24 B each): the memory of one worker call, not of the driver
KEYS_PER_PARTITION = 2_000_000


def num_parts(rows: int, num_partitions: int) -> int:
    """Hash partitions for ``rows`` shuffled rows: at least one per CPU, at most ``KEYS_PER_PARTITION`` each."""
    return max(1, num_partitions, -(-rows // KEYS_PER_PARTITION))


def partition_of(keys, parts: int) -> np.ndarray:
    """Hash partition of each key (integers, or strings such as ``exact_hash``), the same in every process."""
    import pyarrow as pa

    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    if pa.types.is_integer(keys.type):
        h = np.asarray(keys.to_numpy(zero_copy_only=False)).astype(np.int64).view(np.uint64)
    else:  # code points x fixed odd weights, wrapping in 64 bits (Python's hash() is salted per process)
        codes = np.asarray(keys.to_numpy(zero_copy_only=False)).astype(str)
        width = codes.dtype.itemsize // 4
        cp = codes.view(np.uint32).reshape(len(codes), width).astype(np.uint64)
        weights = (np.arange(width, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
        with np.errstate(over="ignore"):
            h = (cp * weights).sum(axis=1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    return (h >> np.uint64(17)) % np.uint64(parts)


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

    def __init__(
        self, work: str, key_column: str, keep_columns: list[str], earlier: list[str], parts: int
    ) -> None:
        self.work, self.key_column, self.keep_columns, self.earlier = (
            Path(work),
            key_column,
            keep_columns,
            earlier,
        )
        self.parts = parts
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
                keys = pa.array(keys)
                ids = np.repeat(ids, per)
            else:
                keys = t.column(self.key_column).filter(pa.array(ok))
            parts.append(pa.table({"key": keys, ROW_ID: ids, PART: partition_of(keys, self.parts)}))
        if not parts:
            return _empty(key=pa.int64(), **{ROW_ID: pa.int64(), PART: pa.uint64()})
        return pa.concat_tables(parts)


def bucket_heads(table) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(key, _row_id)`` rows of a partition: each row and the smallest row of its bucket.

    Sorted by key then row, a bucket starts where the key differs from the one before; its first row is
    its smallest. Vectorised over the whole partition (any key type Arrow sorts).
    """
    import pyarrow.compute as pc

    n = table.num_rows
    if not n:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = pc.sort_indices(table, sort_keys=[("key", "ascending"), (ROW_ID, "ascending")])
    key = table.column("key").take(order).combine_chunks()
    rows = _ids(table)[np.asarray(order)]
    start = np.ones(n, bool)
    if n > 1:
        differs = pc.not_equal(key.slice(1), key.slice(0, n - 1)).fill_null(True)
        start[1:] = np.asarray(differs.to_numpy(zero_copy_only=False), bool)
    repeat = ~start
    repeat[1:] &= rows[1:] == rows[:-1]  # the same row twice in a bucket counts once
    rows, start = rows[~repeat], start[~repeat]
    return rows, rows[np.flatnonzero(start)][np.cumsum(start) - 1]


def _exact_partition(group):
    """Exact buckets: every row but the smallest of its bucket is removed, its cluster id the smallest."""
    import pyarrow as pa

    rows, head = bucket_heads(group)
    other = rows != head
    return pa.table({ROW_ID: rows[other], "cluster": head[other]})


def _star_partition(group):
    """LSH buckets: an edge (big=row, small=the bucket's smallest row) per other row of each bucket."""
    import pyarrow as pa

    rows, head = bucket_heads(group)
    other = rows != head
    return pa.table({"big": rows[other], "small": head[other]})


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


def _sorted_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` pairs sorted by ``a`` then ``b``, and where each run of equal ``a`` starts."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    distinct = np.ones(len(a), bool)
    distinct[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b = a[distinct], b[distinct]
    start = np.ones(len(a), bool)
    start[1:] = a[1:] != a[:-1]
    return a, b, start


class _BothDirections:
    """Edge list -> ``(u, v)`` both ways, partitioned by ``u``."""

    def __init__(self, parts: int) -> None:
        self.parts = parts
        self.__name__ = type(self).__name__  # Ray Data names the operator after it

    def __call__(self, table):
        import pyarrow as pa

        big, small = _ids(table, "big"), _ids(table, "small")
        u = np.concatenate([big, small])
        return pa.table({"u": u, "v": np.concatenate([small, big]), PART: u % self.parts})


class _LargeStar:
    """Per node u: link each larger neighbour to the smallest of u's closed neighbourhood.

    Output edges ``(big, small)`` partitioned by ``big`` for the small-star step.
    """

    def __init__(self, parts: int) -> None:
        self.parts = parts
        self.__name__ = type(self).__name__  # Ray Data names the operator after it

    def __call__(self, group):
        import pyarrow as pa

        u, v, start = _sorted_pairs(_ids(group, "u"), _ids(group, "v"))
        node = np.cumsum(start) - 1
        smallest = np.minimum(u[start], v[start])[node]  # v sorted within u: its first is its minimum
        bigger = v > u
        big, small = v[bigger], smallest[bigger]
        return pa.table(
            {
                "big": big,
                "small": small,
                "changed": (smallest < u)[bigger].astype(np.int64),
                PART: big % self.parts,
            }
        )


def _small_star(group):
    """Per node u (its smaller neighbours): link u and each of them to the smallest of them."""
    import pyarrow as pa

    u, s, start = _sorted_pairs(_ids(group, "big"), _ids(group, "small"))
    node = np.cumsum(start) - 1
    smallest = s[start]  # per node
    size = np.bincount(node, minlength=len(smallest))
    rest = ~start  # the neighbours but the smallest -> (neighbour, smallest)
    heads = u[start]  # each node itself -> (u, smallest)
    return pa.table(
        {
            "big": np.concatenate([s[rest], heads]),
            "small": np.concatenate([smallest[node[rest]], smallest]),
            "changed": np.concatenate([np.ones(int(rest.sum()), np.int64), (size > 1).astype(np.int64)]),
        }
    )


def connected_component_leaves(edges, num_partitions: int, max_rounds: int = 64):
    """Large-star / small-star until a round changes nothing; returns ``(_row_id, cluster)`` of the leaves.

    ``edges``: a Ray dataset of ``(big, small)`` pairs (duplicates allowed). The driver reads the edge count
    once and one changed count per half-round. Returns the dataset of leaves and the number of rounds.
    """
    parts = num_parts(2 * edges.count(), num_partitions)
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - returned after the loop
        large = (
            edges.map_batches(_BothDirections(parts), batch_format="pyarrow")
            .groupby(PART, num_partitions=parts)
            .map_groups(_LargeStar(parts), batch_format="pyarrow")
            .materialize()
        )
        c1 = large.sum("changed") or 0
        small = (
            large.select_columns(["big", "small", PART])
            .groupby(PART, num_partitions=parts)
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
    per_row = 1 if exact else stage.params.num_bands
    parts = num_parts(num_shards * shard_rows * per_row, num_partitions)
    keys = shards.map_batches(
        _ShardKeys(str(work), "exact_hash" if exact else "minhash_bands", keep_columns, earlier, parts),
        batch_format="pyarrow",
        batch_size=1,
    )
    stats: dict[str, Any] = {}
    grouped = keys.groupby(PART, num_partitions=parts)
    if exact:
        removed = grouped.map_groups(_exact_partition, batch_format="pyarrow").materialize()
    else:
        edges = grouped.map_groups(_star_partition, batch_format="pyarrow").materialize()
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
