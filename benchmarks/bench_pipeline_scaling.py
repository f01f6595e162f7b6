"""Pipeline scaling: docs/s and peak driver memory vs input size: ``Pipeline.run``, ``run_ray``, datatrove.

Documents: 8 lines of 25 words, each from a random place of the article bodies in
../shared/data/article-extraction, with 3 % of words replaced; about 1 in 20 is an exact or near copy of an
earlier one (``corpus``). Pipeline: Gopher quality and
repetition, FineWeb, exact dedup, MinHash dedup, written shard by shard (10k rows per shard). Input: one
Parquet file; the datasets path loads it with ``datasets``, the Ray path reads it on the workers
(``ray.data.read_parquet``; a local Ray instance with 2 CPUs and a 300 MB object store). datatrove's
``LocalPipelineExecutor`` runs the same steps as datatrove composes them (``_datatrove_pipeline.py``, in
/work/envs/datatrove; 2 workers, the input as 2 JSONL files, one per task); its filters are its own
implementations, so its kept-row count differs from ours.

Each (path, size) runs in a fresh subprocess; a thread samples the driver's RSS every 50 ms and the peak is
reported (for Ray: the driver process only; the workers' memory is the cluster's; for datatrove: the
orchestrating process, which runs the 1-task stages, and separately its largest worker). The datasets and
Ray paths must write the same number of rows. "Flat" driver memory: peak RSS at the largest size / at the
smallest <= 1.5. The machine is shared: read the ratios, not the absolute rates.
Run:  python benchmarks/bench_pipeline_scaling.py [--sizes 10000,30000,100000] [--datatrove-sizes 10000,30000]
      [--merge]  (keep the sizes already in the result file that this run does not measure)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "article-extraction"


def corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` documents of 8 prose lines, each line 25 consecutive words of a random article at a random place.

    About 1 in 20 documents is an exact or near (one word changed) copy of an earlier one; the others share
    at most a line or two with any other document (shingle Jaccard ~0.1, far below the LSH threshold), so the
    duplicate rate stays ~5 % at every size instead of growing as random windows of the 78 articles overlap.
    """
    truth = json.loads((DATA / "ground-truth.json").read_text())
    bases = [v["articleBody"].split() for v in truth.values() if len(v["articleBody"].split()) >= 220]
    rng = np.random.default_rng(seed)
    docs: list[str] = []
    for i in range(n):
        if i and rng.random() < 0.05:  # an exact or near copy of an earlier document
            src = docs[int(rng.integers(len(docs)))]
            if rng.random() < 0.5:
                w = src.split(" ")
                w[int(rng.integers(len(w)))] = f"w{rng.integers(1 << 30)}"
                src = " ".join(w)
            docs.append(src)
            continue
        w = []
        for b in rng.integers(len(bases), size=8):
            start = int(rng.integers(len(bases[b]) - 25))
            w += bases[b][start : start + 25]
        for j in rng.choice(200, 6, replace=False):  # 3 % of the words replaced
            w[j] = f"w{rng.integers(1 << 30)}"
        # sentence-ish lines so the line rules see prose
        docs.append("\n".join(" ".join(w[k : k + 25]) + "." for k in range(0, 200, 25)))
    return docs


def build():
    from hf_addons.data.dedup.minhash import ExactDeduplicator, MinHashDeduplicator
    from hf_addons.data.executors.pipeline import Pipeline
    from hf_addons.data.filters.quality import FineWebFilter, GopherQualityFilter, GopherRepetitionFilter

    steps = [
        GopherQualityFilter(),
        GopherRepetitionFilter(),
        FineWebFilter(),
        ExactDeduplicator(),
        MinHashDeduplicator(),
    ]
    return Pipeline(steps, shard_rows=10_000, map_batch_size=500)


class PeakRSS:
    """Samples this process's RSS in a thread; ``peak`` in MiB."""

    def __init__(self, every: float = 0.05) -> None:
        import psutil

        self.proc, self.every, self.peak, self._stop = psutil.Process(), every, 0.0, threading.Event()

    def __enter__(self):
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss / 2**20)
            time.sleep(self.every)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def one(path: str, parquet: str, out: str) -> dict:
    """One run in this process: the datasets path or the Ray path over ``parquet``."""
    pipe = build()
    if path == "ray":
        import ray

        ray.init(
            address="local",
            num_cpus=2,
            object_store_memory=300 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
        )
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        from hf_addons.data.executors.ray import run_ray

    with PeakRSS() as rss:
        base = rss.proc.memory_info().rss / 2**20
        t0 = time.perf_counter()
        if path == "ray":
            report = run_ray(pipe, ray.data.read_parquet(parquet), out)
        else:
            import datasets

            report = pipe.run(datasets.Dataset.from_parquet(parquet), out)
        dt = time.perf_counter() - t0
    return {
        "seconds": dt,
        "output_rows": report["output_rows"],
        "peak_rss_mib": round(rss.peak, 1),
        "rss_before_mib": round(base, 1),
        "phase_seconds": report.get("phase_seconds"),
        "dedup": report.get("dedup"),
    }


DATATROVE_PY = Path(os.environ.get("DATATROVE_VENV", "/work/envs/datatrove")) / "bin" / "python"
RESULT = Path(__file__).resolve().parent / "results" / "pipeline_scaling-cpu-2c.json"
PATHS = ("datasets", "ray", "datatrove")


def run_path(path: str, n: int, tmp: Path, src: Path, jsonl: Path, nice: int) -> dict:
    """One (path, size) in a fresh subprocess; returns its measurements."""
    out = tmp / f"out-{path}-{n}"
    if path == "datatrove":
        cmd = [
            str(DATATROVE_PY),
            str(Path(__file__).parent / "_datatrove_pipeline.py"),
            str(jsonl),
            str(out),
            "2",
        ]
    else:
        cmd = [sys.executable, __file__, "--one", path, str(src), str(out)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    lines = proc.stdout.splitlines()
    if path == "datatrove":
        line = [x for x in lines if x.startswith("{")]
        if proc.returncode or not line:
            sys.exit(f"{path} at {n} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(line[-1])
        r["phase_seconds"] = r.pop("seconds")
        r["seconds"] = wall  # the whole run, process start included (as for the other paths' stages)
    else:
        line = [x for x in lines if x.startswith("RESULT ")]
        if not line:
            sys.exit(f"{path} at {n} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(line[0][7:])
    r["docs_per_s"] = n / r["seconds"]
    r["loadavg_1m_before"], r["loadavg_1m_after"] = round(load, 2), round(os.getloadavg()[0], 2)
    r["nice"] = nice
    return r


def summarise(rows: dict[str, dict[str, dict]]) -> list[dict]:
    """README rows: each path's docs/s vs the datasets path per size, and driver RSS growth per path."""
    summary = []
    sizes = sorted({int(n) for n in rows["datasets"]})
    for path in ("ray", "datatrove"):
        for n in sizes:
            d, r = rows["datasets"].get(str(n)), rows[path].get(str(n))
            if not d or not r:
                continue
            name = "Ray path (run_ray)" if path == "ray" else "datatrove LocalPipelineExecutor (2 workers)"
            summary.append(
                {
                    "capability": "data-prepare",
                    "metric": f"{name} docs/s at {n:,} docs (Gopher x2, FineWeb, exact + MinHash dedup, 2 CPUs)",
                    "anchor": "Pipeline.run (datasets path), same input",
                    "anchor_value": round(d["docs_per_s"], 1),
                    "ours": round(r["docs_per_s"], 1),
                    "ratio": round(r["docs_per_s"] / d["docs_per_s"], 3),
                    "unit": "docs/s",
                    "target": "report (one machine: Ray adds scheduling overhead)"
                    if path == "ray"
                    else "report (anchor library on the same steps)",
                    "met": None,
                    # merged files hold runs of different invocations: say under which load each ran
                    "conditions": f"load {d['loadavg_1m_before']} (anchor) vs {r['loadavg_1m_before']}, "
                    f"nice {d.get('nice')} vs {r.get('nice')}",
                }
            )
    for path in PATHS:
        got = sorted(int(n) for n in rows[path])
        if len(got) < 2:
            continue
        lo, hi = got[0], got[-1]
        growth = rows[path][str(hi)]["peak_rss_mib"] / rows[path][str(lo)]["peak_rss_mib"]
        summary.append(
            {
                "capability": "data-prepare",
                "metric": f"{path} peak driver RSS growth, {lo:,} -> {hi:,} docs",
                "anchor": f"peak RSS at {lo:,} docs (MiB)",
                "anchor_value": rows[path][str(lo)]["peak_rss_mib"],
                "ours": rows[path][str(hi)]["peak_rss_mib"],
                "ratio": round(growth, 3),
                "unit": "MiB",
                "target": "flat (ratio <= 1.5)",
                "met": growth <= 1.5,
            }
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--datatrove-sizes", default="10000,30000", help="sizes datatrove also runs at")
    parser.add_argument("--paths", default=",".join(PATHS), help="paths to run (datasets,ray,datatrove)")
    parser.add_argument("--merge", action="store_true", help="keep other sizes of the existing result file")
    parser.add_argument("--one", nargs=3, metavar=("PATH", "PARQUET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(*args.one)))
        return
    if not DATA.exists():
        sys.exit(f"shared data missing: {DATA}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    sizes = [int(s) for s in args.sizes.split(",") if s]  # none (with --merge): re-summarise the file
    dt_sizes = {int(s) for s in args.datatrove_sizes.split(",") if s}
    paths = [p for p in args.paths.split(",") if p]
    if "datatrove" in paths and not DATATROVE_PY.exists():
        sys.exit(f"datatrove venv missing: {DATATROVE_PY} (set DATATROVE_VENV)")
    rows: dict[str, dict[str, dict]] = {p: {} for p in PATHS}
    invocations: list[dict] = []  # which command measured which runs (a merged file holds several)
    if args.merge and RESULT.exists():
        before = json.loads(RESULT.read_text())
        for p, by_size in before["results"]["runs"].items():
            rows.setdefault(p, {}).update(by_size)
        invocations = before["results"].get("invocations") or [
            {
                "command": before["command"],
                "date": before["date"],
                "loadavg_1m": before["machine"]["loadavg_1m"],
            }
        ]
    if sizes:
        invocations.append(
            {
                "command": " ".join(["python", *sys.argv]),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "bench_lock": os.environ.get("BENCH_LOCK", "not recorded"),
            }
        )
    nice = os.nice(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    try:
        for n in sizes:
            docs = corpus(n)
            src = tmp / f"in-{n}.parquet"
            pq.write_table(pa.table({"text": docs}), src)
            jsonl = tmp / f"in-{n}-jsonl"
            jsonl.mkdir()
            for part in range(2):  # one file per datatrove task, row order kept within each
                lo, hi = part * n // 2, (part + 1) * n // 2
                with open(jsonl / f"part-{part}.jsonl", "w") as f:
                    f.writelines(json.dumps({"id": str(i), "text": docs[i]}) + "\n" for i in range(lo, hi))
            for path in paths:  # interleaved, same input
                if path == "datatrove" and n not in dt_sizes:
                    continue
                r = run_path(path, n, tmp, src, jsonl, nice)
                rows[path][str(n)] = r
                print(
                    f"{path:>9} {n:>7} docs: {r['seconds']:7.1f} s  {r['docs_per_s']:7.1f} docs/s  "
                    f"peak driver RSS {r['peak_rss_mib']:7.1f} MiB  kept {r['output_rows']}  "
                    f"load {r['loadavg_1m_before']}->{r['loadavg_1m_after']}",
                    flush=True,
                )
            if "ray" in paths and "datasets" in paths:
                assert rows["ray"][str(n)]["output_rows"] == rows["datasets"][str(n)]["output_rows"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    all_sizes = sorted({int(n) for by in rows.values() for n in by})
    payload = {"sizes": all_sizes, "runs": rows, "invocations": invocations}
    write_result("pipeline_scaling", payload, summarise(rows))


if __name__ == "__main__":
    main()
