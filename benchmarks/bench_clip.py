"""CLIP loss on CPU: forward+backward time and peak extra memory, ours vs open_clip's math vs transformers.

One process times the three side by side (best of ``--repeats``); memory is probed in a fresh process per
(method, N) (see ``hf_addons/contrastive/bench.py`` for the method). Exactness rows: max |difference| of the
loss and the feature / temperature gradients against an fp64 naive loss, fp32 and bf16.

The runner is shared and loaded (several sessions on 2 cores): absolute times move with the load, the
side-by-side ratio is the number that counts. ``--threads 1`` (default) because with intra-op threads on an
oversubscribed machine every small op waits at a barrier for a descheduled thread, which punishes any tiled
method for the machine's load rather than its work.

    .venv/bin/python benchmarks/bench_clip.py                    # N = 4096, 8192, 16384; D = 512; ~6 min
    .venv/bin/python benchmarks/bench_clip.py --dtype bfloat16   # bf16 features, N = 4096, 8192 (own JSON)
    .venv/bin/python benchmarks/bench_clip.py --n 2048 --quick   # smoke run

bf16: on CPUs with native bf16 matmuls (AMX here) every method multiplies in bf16; ours keeps fp32 logits with
``HF_ADDONS_CLIP_EXACT_BF16=1`` (slower there). The real open_clip is used when installed (anchor venv:
``PYTHONPATH=$PWD /work/envs/saelens/bin/python benchmarks/bench_clip.py``), else its math reproduced.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import row, write_result  # noqa: E402


def exactness_rows(d: dict, ours: dict[str, str], n: int, dtype_name: str, prefix: str = "") -> list[dict]:
    """Summary rows of the max |loss| and |feature gradient| differences vs the fp64 naive loss: each of ``ours``
    (method key -> metric suffix) against open_clip's math, both as ``bench.max_abs_diffs`` reports them.
    Shared by the CPU and GPU CLIP benchmarks."""
    fp32 = dtype_name == "float32"

    def worst(method: str, key: str) -> float:
        return d[method]["loss"] if key == "loss" else max(d[method]["d_image"], d[method]["d_text"])

    out = []
    for method, suffix in ours.items():
        for key, label in (("loss", "loss"), ("grad", "grad features")):
            value = worst(method, key)
            out.append(
                row(
                    "clip",
                    f"{prefix}max |d {label}| vs fp64 naive, N={n} {dtype_name}{suffix}",
                    anchor="naive loss (open_clip math) same dtype",
                    anchor_value=worst("open_clip", key),
                    ours=value,
                    unit="",
                    target="<= 1e-6 (fp32)" if fp32 else "report",
                    met=value <= 1e-6 if fp32 else None,
                )
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, nargs="+", default=None, help="default 4096 8192 16384 (bf16: 4096 8192)"
    )
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--quick", action="store_true", help="one repeat, no memory probes (smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per N (best is kept)")
    parser.add_argument("--name", default=None, help="result name (default clip-cpu[-bf16][-quick])")
    args = parser.parse_args()
    bf16 = args.dtype == "bfloat16"
    sizes = args.n or ([4096, 8192] if bf16 else [4096, 8192, 16384])

    import torch

    from hf_addons.contrastive import bench

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    short = "bf16" if bf16 else "fp32"
    results: dict = {"dim": args.dim, "threads": args.threads, "dtype": args.dtype, "sizes": {}}
    summary = []
    results["open_clip"] = "open_clip_torch ClipLoss" if bench.OPEN_CLIP_REAL else "ClipLoss math reproduced"
    if bench.OPEN_CLIP_REAL:
        import importlib.metadata as md

        results["versions"] = {"open_clip_torch": md.version("open_clip_torch"), "torch": torch.__version__}
    for n in sizes:
        repeats = 1 if (args.quick or n >= 16384) else args.repeats
        row_: dict = {"time_s": {}, "peak_extra_gib": {}, "all_times_s": {m: [] for m in bench.METHODS}}
        inputs = bench.make_inputs(n, args.dim, dtype, "cpu")
        if n < 16384:  # warm-up: kernels and thread pools loaded for every method
            for m in bench.METHODS:
                bench.time_fwd_bwd(m, inputs, repeats=1, warmup=0)
        for _ in range(repeats):  # interleaved: each round times every method once, so load drifts hit all
            for m in bench.METHODS:
                row_["all_times_s"][m].append(bench.time_fwd_bwd(m, inputs, repeats=1, warmup=0))
        row_["time_s"] = {m: min(v) for m, v in row_["all_times_s"].items()}
        row_["loadavg"] = os.getloadavg()
        del inputs
        if not args.quick:
            for m in bench.METHODS:
                row_["peak_extra_gib"][m] = bench.peak_extra_gib_cpu(m, n, args.dim, args.dtype, args.threads)
        results["sizes"][n] = row_
        t, mem = row_["time_s"], row_["peak_extra_gib"]
        print(f"N={n} {args.dtype}: time {t}  peak extra GiB {mem}", flush=True)
        for anchor, label in (
            ("open_clip", "open_clip ClipLoss" if bench.OPEN_CLIP_REAL else "open_clip ClipLoss math"),
            ("transformers", "transformers CLIP loss"),
        ):
            summary.append(
                row(
                    "clip",
                    f"CPU loss fwd+bwd time, N={n} D={args.dim} {short}, {args.threads} thread(s)",
                    anchor=label,
                    anchor_value=t[anchor] * 1e3,
                    ours=t["ours"] * 1e3,
                    ratio=t[anchor] / t["ours"],
                    unit="ms",
                    target="faster than anchor (ratio > 1)",
                    met=t[anchor] > t["ours"],
                )
            )
            if mem:
                summary.append(
                    row(
                        "clip",
                        f"CPU peak extra memory, N={n} D={args.dim} {short}",
                        anchor=label,
                        anchor_value=mem[anchor],
                        ours=mem["ours"],
                        ratio=mem[anchor] / max(mem["ours"], 1e-9),
                        unit="GiB",
                        target="O(N): <= 0.25 GiB",
                        met=mem["ours"] <= 0.25,
                    )
                )
    exact = {}
    for dt in (torch.float32, torch.bfloat16) if not bf16 else ():  # the fp32 run holds both exactness rows
        name = str(dt).removeprefix("torch.")
        exact[name] = d = bench.max_abs_diffs(n=2048, dim=args.dim, dtype=dt)
        print(f"max |diff| vs fp64 naive ({name}): {d}", flush=True)
        summary += exactness_rows(d, {"ours": ""}, 2048, name)
    if exact:
        results["exactness_vs_fp64"] = exact
    name = args.name or "clip-cpu" + ("-bf16" if bf16 else "") + ("-quick" if args.quick else "")
    write_result(name, results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
