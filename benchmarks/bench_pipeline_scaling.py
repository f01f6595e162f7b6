"""Whole-pipeline throughput at 1k, 10k, 100k documents: does docs/s stay flat (linear cost)?

Language ID scores 12 common web languages. Documents: 200-word windows of the article bodies in ../shared/data/article-extraction with 3 % of words
replaced (about 1 in 20 is an exact or near copy of another). Pipeline: language ID, Gopher quality and
repetition, FineWeb, exact dedup, MinHash dedup, written shard by shard (``Pipeline.run``). The reference is
the same pipeline at the smallest size; ratio = docs/s at N / docs/s at the smallest N (1.0 = linear).
The machine is shared and loaded: read the ratio, not the absolute rate.
Run:  python benchmarks/bench_pipeline_scaling.py [--sizes 1000,10000,100000] [--num-proc 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "article-extraction"
# lingua scored against 12 common web languages (all 75 costs ~7x more per text)
LANGS = ["en", "de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "ar"]


def corpus(n: int, seed: int = 0) -> list[str]:
    truth = json.loads((DATA / "ground-truth.json").read_text())
    bases = [v["articleBody"].split() for v in truth.values() if len(v["articleBody"].split()) >= 220]
    rng = np.random.default_rng(seed)
    docs: list[str] = []
    for i in range(n):
        if i and rng.random() < 0.05:  # an exact or near copy of an earlier document
            docs.append(docs[int(rng.integers(len(docs)))])
            continue
        words = bases[int(rng.integers(len(bases)))]
        start = int(rng.integers(len(words) - 200))
        w = words[start : start + 200]
        for j in rng.choice(200, 6, replace=False):
            w[j] = f"w{rng.integers(1 << 30)}"
        # sentence-ish lines so the line rules see prose
        docs.append("\n".join(" ".join(w[k : k + 25]) + "." for k in range(0, 200, 25)))
    return docs


def build(num_proc: int | None):
    from hf_addons.data.dedup.minhash import ExactDeduplicator, MinHashDeduplicator
    from hf_addons.data.executors.pipeline import Pipeline
    from hf_addons.data.filters.langid import LanguageFilter
    from hf_addons.data.filters.quality import FineWebFilter, GopherQualityFilter, GopherRepetitionFilter

    steps = [
        LanguageFilter(candidates=LANGS),
        GopherQualityFilter(),
        GopherRepetitionFilter(),
        FineWebFilter(),
        ExactDeduplicator(),
        MinHashDeduplicator(),
    ]
    return Pipeline(steps, num_proc=num_proc, shard_rows=10_000, map_batch_size=500)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--num-proc", type=int, default=1)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data missing: {DATA}")
    import datasets

    sizes = [int(s) for s in args.sizes.split(",")]
    pipe = build(args.num_proc if args.num_proc > 1 else None)
    pipe.run(datasets.Dataset.from_dict({"text": corpus(200, seed=1)}), tempfile.mkdtemp())  # warm-up
    rows = {}
    for n in sizes:
        ds = datasets.Dataset.from_dict({"text": corpus(n)})
        out = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
        t0 = time.perf_counter()
        report = pipe.run(ds, out)
        dt = time.perf_counter() - t0
        shutil.rmtree(out, ignore_errors=True)
        rows[n] = {"seconds": dt, "docs_per_s": n / dt, "output_rows": report["output_rows"]}
        print(f"{n:>7} docs: {dt:7.1f} s  {n / dt:8.1f} docs/s  kept {report['output_rows']}")
    base = sizes[0]
    summary = [
        {
            "capability": "data-prepare",
            "metric": f"pipeline docs/s at {n:,} docs (langid, Gopher x2, FineWeb, exact + MinHash dedup)",
            "anchor": f"same pipeline at {base:,} docs",
            "anchor_value": round(rows[base]["docs_per_s"], 1),
            "ours": round(rows[n]["docs_per_s"], 1),
            "ratio": round(rows[n]["docs_per_s"] / rows[base]["docs_per_s"], 3),
            "unit": "docs/s",
            "target": "linear (ratio >= 0.8)",
            "met": rows[n]["docs_per_s"] / rows[base]["docs_per_s"] >= 0.8,
        }
        for n in sizes
    ]
    write_result("pipeline_scaling", {"num_proc": args.num_proc, "sizes": rows}, summary)


if __name__ == "__main__":
    main()
