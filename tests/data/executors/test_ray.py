"""data-prepare on Ray Data: same output as the ``datasets`` path on the same input (local Ray, 2 CPUs)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    yield
    ray.shutdown()


def test_ray_pipeline_equals_datasets_pipeline(local_ray, tmp_path):
    import datasets

    from hf_addons.data.dedup.minhash import ExactDeduplicator, MinHashDeduplicator
    from hf_addons.data.executors.pipeline import Pipeline
    from hf_addons.data.executors.ray import run_ray, to_table
    from hf_addons.data.filters.quality import FineWebFilter, GopherQualityFilter

    rng = np.random.default_rng(0)
    vocab = [f"word{i}" for i in range(400)] + ["the", "and", "of", "to", "with"] * 20
    docs = [" ".join(rng.choice(vocab, 120)) + "." for _ in range(40)]
    near = []
    for d in docs[:8]:
        w = d.split()
        w[5] = "changed"
        near.append(" ".join(w))
    texts = docs + near + docs[:4] + ["tiny"]
    ds = datasets.Dataset.from_dict({"text": texts, "id": list(range(len(texts)))})
    pipe = Pipeline(
        [
            GopherQualityFilter(),
            FineWebFilter(),
            ExactDeduplicator(),
            MinHashDeduplicator(verify_threshold=0.8),
        ],
        batch_size=16,
    )
    local = pipe.apply(ds).data.table
    # a Ray dataset in several blocks: row ids are assigned per block on the workers
    ray_input = ray.data.from_arrow(
        [local.select(["text", "id"]).slice(0, 20), local.select(["text", "id"]).slice(20)]
    )
    remote = to_table(run_ray(pipe, ray_input, output_dir=str(tmp_path / "ray")))
    assert remote.column_names == local.column_names
    assert remote.equals(local)
    # the written output and report match the datasets path
    ray_report = json.loads((tmp_path / "ray" / "report.json").read_text())
    local_report = pipe.run(ds, tmp_path / "local")
    assert ray_report["steps"] == local_report["steps"]
    assert ray_report["output_rows"] == local_report["output_rows"]
    written = pq.read_table(tmp_path / "ray" / "data")
    assert sorted(written.column("id").to_pylist()) == sorted(
        np.flatnonzero(
            np.logical_and.reduce([local.column(c).to_numpy() for c in pipe.keep_columns()])
        ).tolist()
    )
    keep = np.asarray(local.column("minhash_dedup_keep").to_pylist())
    assert not keep[40:48].any() and keep[:40].all()
    assert local.column("exact_dedup_keep").to_pylist()[48:52] == [False] * 4
