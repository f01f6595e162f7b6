"""Runs datatrove's four MinHash stages on a JSONL file (in datatrove's own venv); called by bench_dedup.py.

Usage: python _datatrove_minhash.py INPUT_DIR WORK_DIR. Prints one JSON line: the seconds of each stage and
the cluster id of every document id (``-1``: in no cluster). Default ``MinhashConfig`` (5-grams, 14 buckets
x 8 hashes, 64-bit xxhash), one task per stage where the stage allows, one worker (sequential, one core).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    src, work = sys.argv[1], Path(sys.argv[2])
    cfg = MinhashConfig()
    logs = str(work / "logs")
    stages = {
        "signature": LocalPipelineExecutor(
            pipeline=[JsonlReader(src), MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)],
            tasks=1,
            workers=1,
            logging_dir=f"{logs}/sig",
        ),
        "buckets": LocalPipelineExecutor(
            pipeline=[
                MinhashDedupBuckets(
                    input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg
                )
            ],
            tasks=cfg.num_buckets,
            workers=1,
            logging_dir=f"{logs}/buckets",
        ),
        "cluster": LocalPipelineExecutor(
            pipeline=[
                MinhashDedupCluster(
                    input_folder=str(work / "buckets"),
                    output_folder=str(work / "remove_ids"),
                    config=cfg,
                    save_cluster_id=True,
                )
            ],
            tasks=1,
            workers=1,
            logging_dir=f"{logs}/cluster",
        ),
        "filter": LocalPipelineExecutor(
            pipeline=[
                JsonlReader(src),
                MinhashDedupFilter(
                    input_folder=str(work / "remove_ids"),
                    exclusion_writer=JsonlWriter(str(work / "removed"), compression=None),
                    load_cluster_ids=True,
                ),
                JsonlWriter(str(work / "kept"), compression=None),
            ],
            tasks=1,
            workers=1,
            logging_dir=f"{logs}/filter",
        ),
    }
    seconds = {}
    for name, executor in stages.items():
        t0 = time.perf_counter()
        executor.run()
        seconds[name] = time.perf_counter() - t0
    clusters: dict[str, int] = {}
    for part in ("kept", "removed"):
        for f in sorted((work / part).glob("*.jsonl")):
            for line in f.read_text().splitlines():
                row = json.loads(line)
                clusters[row["id"]] = int(row.get("metadata", {}).get("minhash_cluster_id", -1))
    print(json.dumps({"seconds": seconds, "clusters": clusters}))


if __name__ == "__main__":
    main()
