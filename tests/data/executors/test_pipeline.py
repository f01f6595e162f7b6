"""The datasets-map ``Pipeline``: apply, sharded resumable runs, configs, the prepare CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data.helpers import GOOD, PAGE, with_edits

from hf_addons.data.dedup.minhash import (
    ExactDeduplicator,
    MinHashDeduplicator,
)
from hf_addons.data.executors.pipeline import Pipeline
from hf_addons.data.extract.html import HtmlToMarkdown
from hf_addons.data.filters.quality import (
    FineWebFilter,
    GopherQualityFilter,
)
from hf_addons.data.readers.files import load_input


def _corpus():
    # distinct documents (word order shuffled: shared 5-grams are rare) with the same word statistics
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.permutation(GOOD.split())) + "." for _ in range(10)]
    return docs + [docs[0], docs[1].upper(), with_edits(docs[2], 0.02, 7), "short junk", "# " * 80]


def test_pipeline_apply_and_run_report(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": _corpus()})
    pipe = Pipeline(
        [GopherQualityFilter(), ExactDeduplicator(), MinHashDeduplicator()], shard_rows=4, keep_rejects=True
    )
    applied = pipe.apply(ds)
    assert len(applied) == len(ds)
    assert applied["exact_dedup_keep"][10:12] == [False, False]
    report = pipe.run(ds, tmp_path / "out")
    assert report["input_rows"] == 15 and report["output_rows"] == 10 and report["shards"] == 4
    by = {s["name"]: s for s in report["steps"]}
    assert by["gopher_quality"]["removed"] == 2 and by["exact_dedup"]["removed"] == 2
    assert by["minhash_dedup"]["seen"] == 11 and by["minhash_dedup"]["removed"] == 1
    assert json.loads((tmp_path / "out" / "report.json").read_text())["output_rows"] == 10
    out = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / "data"), split="train")
    assert sorted(out["text"]) == sorted(_corpus()[:10])
    rejects = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / "rejects"), split="train")
    assert len(rejects) == 5


def test_pipeline_resumes_without_redoing_shards(tmp_path):
    import datasets

    calls = {"n": 0}

    class Counting(GopherQualityFilter):
        def process(self, batch):
            calls["n"] += len(batch["text"])
            return super().process(batch)

    ds = datasets.Dataset.from_dict({"text": _corpus()})
    out = tmp_path / "out"
    pipe = Pipeline([Counting(), MinHashDeduplicator()], shard_rows=5)
    full = pipe.run(ds, out)
    assert calls["n"] == 15
    # simulate a crash after shard 1: later shards, the global pass and outputs are gone, a temp file lingers
    for p in list((out / "_work").glob("stage-0000[2-9].parquet")) + [out / "_work" / "global.parquet"]:
        p.unlink()
    for p in (out / "data").glob("*.parquet"):
        p.unlink()
    (out / "_work" / ".stage-00002.parquet.tmp-1").write_bytes(b"partial")
    (out / "report.json").unlink()
    calls["n"] = 0
    again = pipe.run(ds, out)
    assert calls["n"] == 5  # only the missing shard was mapped again
    assert again["shards_resumed"] == 2 and again["output_rows"] == full["output_rows"]
    with pytest.raises(ValueError, match="different pipeline"):
        Pipeline([FineWebFilter()], shard_rows=5).run(ds, out)


def test_pipeline_num_proc_matches_single_process(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": _corpus() * 20})
    steps = [GopherQualityFilter(), FineWebFilter(), MinHashDeduplicator()]
    one = Pipeline(steps, map_batch_size=32).apply(ds)
    two = Pipeline(steps, map_batch_size=32, num_proc=2).apply(ds)
    assert one.to_dict() == two.to_dict()


def test_pipeline_config_and_errors():
    pipe = Pipeline.from_config(
        {"steps": [{"gopher_quality": {"min_doc_words": 10}}, "fineweb", "minhash_dedup"], "shard_rows": 7}
    )
    assert pipe.steps[0].min_doc_words == 10 and pipe.shard_rows == 7
    with pytest.raises(ValueError, match="unknown step"):
        Pipeline.from_config({"steps": ["nope"]})
    with pytest.raises(ValueError, match="unique"):
        Pipeline([FineWebFilter(), FineWebFilter()])
    with pytest.raises(ValueError, match="at least one"):
        Pipeline([])
    with pytest.raises(FileNotFoundError):
        load_input("no/such/file.jsonl")


def test_cli_prepare_jsonl_with_config(tmp_path, capsys):
    from hf_addons.cli import main

    rows = [{"text": t} for t in _corpus()]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = tmp_path / "prepare.yaml"
    cfg.write_text(
        "steps:\n  - gopher_quality\n  - exact_dedup\n  - minhash_dedup: {verify_threshold: 0.7}\n"
    )
    args = ["data", "prepare", "--input", str(src), "--output", str(tmp_path / "out"), "--no-progress"]
    assert main([*args, "--config", str(cfg), "--shard-rows", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["input_rows"] == 15 and report["output_rows"] == 10 and report["shards"] == 3
    assert main(["data", "prepare", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path)]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [nope]\n")
    assert main([*args, "--config", str(bad)]) == 2
    assert "unknown step" in capsys.readouterr().err


def test_pipeline_output_shards_share_one_schema(tmp_path):
    import datasets

    rows = [{"html": PAGE, "url": "https://a"}, {"html": PAGE.replace("River", "Lake"), "url": "https://b"}]
    rows += [{"html": "<html><body><p>" + GOOD + "</p></body></html>", "url": "https://c"}]  # no meta tags
    pipe = Pipeline([HtmlToMarkdown(min_words=1)], shard_rows=2)
    report = pipe.run(datasets.Dataset.from_list(rows), tmp_path / "out")
    assert report["output_rows"] == 3
    out = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / "data"), split="train")
    assert out["author"] == ["Ada Writer", "Ada Writer", None]
