"""``run_ray`` on a 3-node local Ray cluster (1 CPU each): the same files as ``Pipeline.run``, resumable.

Every comparison is against the single-process path on the same input: the data and rejects shards must be
equal table for table, the report step for step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
from ray.cluster_utils import Cluster  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 100 * 2**20}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    nodes = [c.add_node(**NODE) for _ in range(2)]
    ray.init(address=c.address, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    c.wait_for_nodes()
    yield c, nodes
    ray.shutdown()
    c.shutdown()


def corpus(n: int = 160, seed: int = 0) -> list[str]:
    """Prose-like documents with exact copies, near copies and chains of near copies."""
    rng = np.random.default_rng(seed)
    stop = ["the", "and", "of", "to", "with", "that", "is", "for"]
    vocab = [f"word{i}" for i in range(600)] + stop * 30
    docs: list[str] = []
    for i in range(n):
        r = rng.random()
        if i > 10 and r < 0.08:
            docs.append(docs[int(rng.integers(len(docs)))])  # exact copy
        elif i > 10 and r < 0.25:
            w = docs[int(rng.integers(len(docs)))].split(" ")  # near copy (of a copy: chains)
            w[int(rng.integers(len(w)))] = f"x{i}"
            docs.append(" ".join(w))
        else:
            words = rng.choice(vocab, 150)
            docs.append("\n".join(" ".join(words[k : k + 15]) + "." for k in range(0, 150, 15)))
    return docs + ["tiny"]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    with path.open("w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"text": t, "id": i}) + "\n")
    return path


def default_pipeline(**kw):
    from hf_addons.data.executors.pipeline import Pipeline, default_steps

    return Pipeline(default_steps(html=False), map_batch_size=32, shard_rows=40, keep_rejects=True, **kw)


def assert_same_output(a: Path, b: Path) -> None:
    for sub in ("data", "rejects"):
        names = sorted(p.name for p in (a / sub).glob("*.parquet"))
        assert names == sorted(p.name for p in (b / sub).glob("*.parquet"))
        for name in names:
            x, y = pq.read_table(a / sub / name), pq.read_table(b / sub / name)
            assert x.schema == y.schema and x.num_rows == y.num_rows, f"{sub}/{name}"
            for c in x.column_names:
                if pa.types.is_floating(x.schema.field(c).type):
                    # lingua's confidence varies in the last bits from one call to the next, in any process
                    assert np.allclose(x.column(c).to_numpy(), y.column(c).to_numpy(), rtol=1e-12, atol=0), c
                else:
                    assert x.column(c).equals(y.column(c)), f"{sub}/{name}: {c} differs"
    ra, rb = json.loads((a / "report.json").read_text()), json.loads((b / "report.json").read_text())
    for key in ("input_rows", "output_rows", "removed_rows", "steps", "errors", "fingerprint", "shards"):
        assert ra[key] == rb[key], key


def test_default_pipeline_on_cluster_equals_single_process(cluster, tmp_path):
    import datasets

    from hf_addons.data.executors.ray import run_ray
    from hf_addons.data.readers.files import load_input

    src = write_jsonl(tmp_path / "in.jsonl", corpus())
    pipe = default_pipeline()
    local = pipe.run(load_input([str(src)]), tmp_path / "local")
    report = run_ray(pipe, ray.data.read_json(str(src)), str(tmp_path / "ray"))
    assert_same_output(tmp_path / "local", tmp_path / "ray")
    assert report["shards"] == 5 and report["shards_processed"] == 5
    steps = {s["name"]: s for s in local["steps"]}
    assert steps["exact_dedup"]["removed"] > 5 and steps["minhash_dedup"]["removed"] > 5
    # the decisions equal Pipeline.apply's on every row (data + rejects = all rows)
    applied = pipe.apply(datasets.Dataset(pa.Table.from_pylist([json.loads(x) for x in src.open()])))
    rows = pa.concat_tables([pq.read_table(tmp_path / "ray" / d) for d in ("data", "rejects")])
    rows = rows.sort_by("id")
    for c in ("exact_dedup_cluster", "exact_dedup_keep", "minhash_dedup_cluster", "minhash_dedup_keep"):
        assert rows.column(c).to_pylist() == applied.data.table.column(c).to_pylist(), c


def test_precision_mode_on_cluster_equals_single_process(cluster, tmp_path):
    from hf_addons.data.dedup.minhash import ExactDeduplicator, MinHashDeduplicator
    from hf_addons.data.executors.pipeline import Pipeline
    from hf_addons.data.executors.ray import run_ray

    texts = corpus(120, seed=3)
    table = pa.table({"text": texts, "id": list(range(len(texts)))})
    pipe = Pipeline(
        [ExactDeduplicator(), MinHashDeduplicator(verify_threshold=0.9)], shard_rows=30, keep_rejects=True
    )
    pipe.run(table, tmp_path / "local")
    report = run_ray(pipe, ray.data.from_arrow([table.slice(0, 50), table.slice(50)]), str(tmp_path / "ray"))
    assert_same_output(tmp_path / "local", tmp_path / "ray")
    assert (
        report["dedup"]["minhash_dedup"]["verified_edges"]
        <= report["dedup"]["minhash_dedup"]["candidate_edges"]
    )


def test_components_match_scipy_on_chains_and_stars(cluster, monkeypatch):
    """Large-star/small-star components equal scipy's (smallest row per component) on a hard graph."""
    ctx = ray.data.DataContext.get_current()  # the shuffle run_ray uses (no aggregator actors to start)
    monkeypatch.setattr(ctx, "shuffle_strategy", ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED)
    from hf_addons.data.dedup.minhash import connected_components
    from hf_addons.data.executors.ray_dedup import connected_component_leaves

    rng = np.random.default_rng(1)
    n = 400
    perm = rng.permutation(n)
    chain = np.stack([perm[:120], perm[1:121]], 1)  # a long path in random id order
    rand = rng.integers(0, n, (60, 2))
    edges = np.concatenate([chain, rand])
    edges = edges[edges[:, 0] != edges[:, 1]]
    big, small = edges.max(1), edges.min(1)
    ds = ray.data.from_arrow([pa.table({"big": big[i::3], "small": small[i::3]}) for i in range(3)])
    leaves, rounds = connected_component_leaves(ds, num_partitions=3)
    got = np.arange(n)
    t = pa.concat_tables(ray.get(leaves.to_arrow_refs()))
    ids = t.column("_row_id").to_numpy()
    assert len(np.unique(ids)) == len(ids)  # each removed row once
    got[ids] = t.column("cluster").to_numpy()
    assert np.array_equal(got, connected_components(n, np.stack([small, big], 1)))
    assert rounds > 1


def test_partitioned_buckets_equal_single_process_candidates_and_exact_clusters():
    """Per-partition vectorised buckets (any partition count) give candidate_edges' edges and cluster_exact's ids."""
    from hf_addons.data.dedup.minhash import candidate_edges, cluster_exact
    from hf_addons.data.executors.ray_dedup import (
        _exact_partition,
        _star_partition,
        partition_of,
    )

    rng = np.random.default_rng(2)
    n = 2000
    bands = rng.integers(0, 300, (n, 14)).astype(np.int64)  # collisions: buckets of many rows
    bands[5] = bands[3]  # two rows sharing every bucket
    bands[7, 1] = bands[7, 0] = bands[9, 0]  # one row twice in a bucket: one member
    keys = pa.table({"key": bands.reshape(-1), "_row_id": np.repeat(np.arange(n), 14)})
    hashes = [f"{x:016x}" for x in rng.integers(0, 400, n)]
    exact = pa.table({"key": hashes, "_row_id": np.arange(n)})
    for parts in (1, 3, 7):
        part = partition_of(keys.column("key"), parts)
        assert part.min() >= 0 and part.max() < parts and len(np.unique(part)) == parts
        e = [_star_partition(keys.filter(pa.array(part == p))) for p in range(parts)]
        got = np.concatenate([np.stack([t.column("small"), t.column("big")], 1) for t in e])
        assert np.array_equal(np.unique(got, axis=0), candidate_edges(bands))
        xpart = partition_of(exact.column("key"), parts)
        cluster = np.arange(n)
        for p in range(parts):
            t = _exact_partition(exact.filter(pa.array(xpart == p)))
            cluster[t.column("_row_id").to_numpy()] = t.column("cluster").to_numpy()
        assert np.array_equal(cluster, cluster_exact(hashes)[0])
    # the partition of a key is a function of the key alone (the same in every process and block)
    assert np.array_equal(partition_of(pa.array(hashes[:10]), 5), partition_of(pa.array(hashes), 5)[:10])


_DRIVER = """
import sys, ray
from hf_addons.data.executors.pipeline import Pipeline, default_steps
from hf_addons.data.executors.ray import run_ray
ray.init(address=sys.argv[1], log_to_driver=False)
ray.data.DataContext.get_current().enable_progress_bars = False
pipe = Pipeline(default_steps(html=False), map_batch_size=32, shard_rows=40, keep_rejects=True)
run_ray(pipe, ray.data.read_json(sys.argv[2]), sys.argv[3])
"""


@pytest.mark.slow
def test_driver_killed_mid_run_resumes_to_identical_output(cluster, tmp_path):
    from hf_addons.data.executors.ray import run_ray

    c, _ = cluster
    src = write_jsonl(tmp_path / "in.jsonl", corpus())
    pipe = default_pipeline()
    run_ray(pipe, ray.data.read_json(str(src)), str(tmp_path / "clean"))
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, c.address, str(src), str(out)], env=env)
    deadline = time.time() + 300
    while not (out / "_work" / "exact_dedup" / "_done").exists():  # kill it inside the MinHash stage
        assert proc.poll() is None and time.time() < deadline, "driver ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "report.json").exists()
    report = run_ray(pipe, ray.data.read_json(str(src)), str(out))
    assert report["shards_resumed"] == report["shards"]  # the map phase was not redone
    assert_same_output(tmp_path / "clean", out)


@pytest.mark.slow
def test_node_removed_mid_run_loses_and_duplicates_no_rows(cluster, tmp_path):
    from hf_addons.data.executors.ray import run_ray

    c, nodes = cluster
    src = write_jsonl(tmp_path / "in.jsonl", corpus())
    pipe = default_pipeline()
    pipe.run(__import__("datasets").Dataset.from_json(str(src)), tmp_path / "local")
    out = tmp_path / "ray"

    def kill_node() -> None:
        while not (out / "_work" / "shards.json").exists():
            time.sleep(0.02)
        c.remove_node(nodes[-1], allow_graceful=False)

    t = threading.Thread(target=kill_node)
    t.start()
    report = run_ray(pipe, ray.data.read_json(str(src)), str(out))
    t.join()
    assert len(ray.nodes()) and sum(n["Alive"] for n in ray.nodes()) == 2
    assert_same_output(tmp_path / "local", out)
    assert report["input_rows"] == len(corpus())


@pytest.mark.slow
def test_cli_ray_address_writes_what_the_local_cli_writes(cluster, tmp_path):
    from hf_addons.cli import main

    c, _ = cluster
    src = write_jsonl(tmp_path / "in.jsonl", corpus(80, seed=5))
    base = ["data", "prepare", "--input", str(src), "--shard-rows", "30", "--no-progress", "--keep-rejects"]
    assert main([*base, "--output", str(tmp_path / "local")]) == 0
    assert main([*base, "--output", str(tmp_path / "ray"), "--ray-address", c.address]) == 0
    assert_same_output(tmp_path / "local", tmp_path / "ray")
