"""CLIP loss on CPU: forward+backward time and peak extra memory, ours vs open_clip's math vs transformers.

One process times the three side by side (best of ``--repeats``); memory is probed in a fresh process per
(method, N) (see ``hf_addons/contrastive/bench.py`` for the method). Exactness rows: max |difference| of the
loss and the feature / temperature gradients against an fp64 naive loss, fp32 and bf16.

The runner is shared and loaded (several sessions on 2 cores): absolute times move with the load, the
side-by-side ratio is the number that counts. ``--threads 1`` (default) because with intra-op threads on an
oversubscribed machine every small op waits at a barrier for a descheduled thread, which punishes any tiled
method for the machine's load rather than its work.

    .venv/bin/python benchmarks/bench_clip.py                    # N = 4096, 8192, 16384; D = 512; ~6 min
    .venv/bin/python benchmarks/bench_clip.py --n 2048 --quick   # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import write_result  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one repeat, no memory probes (smoke run)")
    args = parser.parse_args()

    import torch

    from hf_addons.contrastive import bench

    torch.set_num_threads(args.threads)
    results: dict = {"dim": args.dim, "threads": args.threads, "dtype": "float32", "sizes": {}}
    summary = []
    for n in args.n:
        repeats = 1 if (args.quick or n >= 16384) else 2
        row: dict = {"time_s": {}, "peak_extra_gib": {}}
        for m in bench.METHODS:
            inputs = bench.make_inputs(n, args.dim, torch.float32, "cpu")
            row["time_s"][m] = bench.time_fwd_bwd(m, inputs, repeats=repeats, warmup=0 if n >= 16384 else 1)
            del inputs
            if not args.quick:
                row["peak_extra_gib"][m] = bench.peak_extra_gib_cpu(m, n, args.dim, "float32", args.threads)
        results["sizes"][n] = row
        t, mem = row["time_s"], row["peak_extra_gib"]
        print(f"N={n}: time {t}  peak extra GiB {mem}", flush=True)
        for anchor, label in (
            ("open_clip", "open_clip ClipLoss math"),
            ("transformers", "transformers CLIP loss"),
        ):
            summary.append(
                {
                    "capability": "clip",
                    "metric": f"CPU loss fwd+bwd time, N={n} D={args.dim} fp32, {args.threads} thread(s)",
                    "anchor": label,
                    "anchor_value": round(t[anchor] * 1e3, 1),
                    "ours": round(t["ours"] * 1e3, 1),
                    "ratio": t[anchor] / t["ours"],
                    "unit": "ms",
                    "target": "faster than anchor (ratio > 1)",
                    "met": t[anchor] > t["ours"],
                }
            )
            if mem:
                summary.append(
                    {
                        "capability": "clip",
                        "metric": f"CPU peak extra memory, N={n} D={args.dim} fp32",
                        "anchor": label,
                        "anchor_value": round(mem[anchor], 3),
                        "ours": round(mem["ours"], 3),
                        "ratio": mem[anchor] / max(mem["ours"], 1e-9),
                        "unit": "GiB",
                        "target": "O(N): <= 0.25 GiB",
                        "met": mem["ours"] <= 0.25,
                    }
                )
    exact = {}
    for dtype in (torch.float32, torch.bfloat16):
        exact[str(dtype)] = bench.max_abs_diffs(n=2048, dim=args.dim, dtype=dtype)
        d = exact[str(dtype)]
        print(f"max |diff| vs fp64 naive ({dtype}): {d}", flush=True)
        summary.append(
            {
                "capability": "clip",
                "metric": f"max |d loss| vs fp64 naive, N=2048 {str(dtype).removeprefix('torch.')}",
                "anchor": "naive loss (open_clip math) same dtype",
                "anchor_value": d["open_clip"]["loss"],
                "ours": d["ours"]["loss"],
                "ratio": None,
                "unit": "",
                "target": "<= 1e-6 (fp32)" if dtype == torch.float32 else "report",
                "met": d["ours"]["loss"] <= 1e-6 if dtype == torch.float32 else None,
            }
        )
        summary.append(
            {
                "capability": "clip",
                "metric": f"max |d grad features| vs fp64 naive, N=2048 {str(dtype).removeprefix('torch.')}",
                "anchor": "naive loss (open_clip math) same dtype",
                "anchor_value": max(d["open_clip"]["d_image"], d["open_clip"]["d_text"]),
                "ours": max(d["ours"]["d_image"], d["ours"]["d_text"]),
                "ratio": None,
                "unit": "",
                "target": "<= 1e-6 (fp32)" if dtype == torch.float32 else "report",
                "met": max(d["ours"]["d_image"], d["ours"]["d_text"]) <= 1e-6
                if dtype == torch.float32
                else None,
            }
        )
    results["exactness_vs_fp64"] = exact
    write_result("clip-cpu" if not args.quick else "clip-cpu-quick", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
