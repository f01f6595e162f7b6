"""datatrove's local executor on bench_pipeline_scaling's steps (run in datatrove's own venv).

Usage: python _datatrove_pipeline.py INPUT_DIR WORK_DIR WORKERS. INPUT_DIR holds JSONL files (``id``, ``text``),
one per task. Steps, as datatrove composes them (each stage reads what the one before wrote):

1. filter: JsonlReader -> GopherQualityFilter -> GopherRepetitionFilter -> FineWebQualityFilter -> JsonlWriter
2. exact dedup: ExactDedupSignature, ExactFindDedups (1 task), ExactDedupFilter -> JsonlWriter
3. MinHash dedup: MinhashDedupSignature, MinhashDedupBuckets (one task per band), MinhashDedupCluster
   (1 task), MinhashDedupFilter -> JsonlWriter

Default configs (MinHash: 5-grams, 14 bands x 8 hashes, as ours). Prints one JSON line: seconds per stage,
the rows kept, each filtering step's counts (from datatrove's stats.json), and the peak RSS of this (the orchestrating) process and of its largest child, in MiB.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import (
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    src, work, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    tasks = len(list(Path(src).glob("*.jsonl")))
    logs = work / "logs"

    def executor(name: str, pipeline: list, n_tasks: int) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(
            pipeline=pipeline, tasks=n_tasks, workers=min(workers, n_tasks), logging_dir=str(logs / name)
        )

    def writer(name: str) -> JsonlWriter:
        return JsonlWriter(str(work / name), compression=None)

    exact_cfg = ExactDedupConfig(content_getter=lambda doc: doc.text)
    mh_cfg = MinhashConfig()
    stages = {
        "filter": executor(
            "filter",
            [
                JsonlReader(src),
                GopherQualityFilter(),
                GopherRepetitionFilter(),
                FineWebQualityFilter(),
                writer("filtered"),
            ],
            tasks,
        ),
        "exact_signature": executor(
            "exact_sig",
            [
                JsonlReader(str(work / "filtered")),
                ExactDedupSignature(output_folder=str(work / "exact_sigs"), config=exact_cfg),
            ],
            tasks,
        ),
        "exact_find": executor(
            "exact_find",
            [
                ExactFindDedups(
                    data_folder=str(work / "exact_sigs"),
                    output_folder=str(work / "exact_dups"),
                    config=exact_cfg,
                )
            ],
            1,
        ),
        "exact_filter": executor(
            "exact_filter",
            [
                JsonlReader(str(work / "filtered")),
                ExactDedupFilter(data_folder=str(work / "exact_dups"), config=exact_cfg),
                writer("exact"),
            ],
            tasks,
        ),
        "minhash_signature": executor(
            "mh_sig",
            [
                JsonlReader(str(work / "exact")),
                MinhashDedupSignature(output_folder=str(work / "mh_sigs"), config=mh_cfg),
            ],
            tasks,
        ),
        "minhash_buckets": executor(
            "mh_buckets",
            [
                MinhashDedupBuckets(
                    input_folder=str(work / "mh_sigs"), output_folder=str(work / "mh_buckets"), config=mh_cfg
                )
            ],
            mh_cfg.num_buckets,
        ),
        "minhash_cluster": executor(
            "mh_cluster",
            [
                MinhashDedupCluster(
                    input_folder=str(work / "mh_buckets"),
                    output_folder=str(work / "mh_remove"),
                    config=mh_cfg,
                )
            ],
            1,
        ),
        "minhash_filter": executor(
            "mh_filter",
            [
                JsonlReader(str(work / "exact")),
                MinhashDedupFilter(input_folder=str(work / "mh_remove")),
                writer("kept"),
            ],
            tasks,
        ),
    }
    seconds = {}
    for name, ex in stages.items():
        t0 = time.perf_counter()
        ex.run()
        seconds[name] = round(time.perf_counter() - t0, 3)
    kept = sum(len(f.read_text().splitlines()) for f in (work / "kept").glob("*.jsonl"))
    steps = {}  # per filtering step: documents in, forwarded, dropped (by reason)
    for stage in ("filter", "exact_filter", "mh_filter"):
        for step in json.loads((logs / stage / "stats.json").read_text()):
            counts = {k: v for k, v in step["stats"].items() if k in ("total", "forwarded") or "dropped" in k}
            if "total" in counts and "READER" not in step["name"] and "WRITER" not in step["name"]:
                steps[step["name"].split(":")[-1].encode("ascii", "ignore").decode().strip()] = counts
    mib = 1024.0  # ru_maxrss is in KiB on Linux
    print(
        json.dumps(
            {
                "seconds": seconds,
                "output_rows": kept,
                "steps": steps,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mib, 1),
                "peak_child_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mib, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
