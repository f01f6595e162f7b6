"""CLIP loss on one GPU: forward+backward time and peak extra memory, N = 8k .. 262k, D = 512, bf16.

Ours vs open_clip's ``ClipLoss`` math vs transformers' CLIP loss, side by side in one process; a method that
runs out of memory is recorded as OOM. Peak extra memory = ``torch.cuda.max_memory_allocated`` above the inputs.
Targets (issue 6): N=32k <= 40 ms and <= 0.25 GiB; N=65k <= 175 ms and <= 0.5 GiB; 131k and 262k <= 1 GiB.

    .venv/bin/python benchmarks/bench_clip_gpu.py            # needs CUDA; a few minutes on an H100
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import write_result  # noqa: E402

TARGETS = {32768: (0.040, 0.25), 65536: (0.175, 0.5), 131072: (None, 1.0), 262144: (None, 1.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[8192, 32768, 65536, 131072, 262144])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    args = parser.parse_args()

    import torch

    from hf_addons.contrastive import bench

    if not torch.cuda.is_available():
        print("bench_clip_gpu: CUDA is not available; nothing measured (run benchmarks/bench_clip.py on CPU)")
        return 0
    dtype = getattr(torch, args.dtype)
    results: dict = {"dim": args.dim, "dtype": args.dtype, "sizes": {}}
    summary = []
    for n in args.n:
        row: dict = {"time_s": {}, "peak_extra_gib": {}}
        for m in bench.METHODS:
            try:
                inputs = bench.make_inputs(n, args.dim, dtype, "cuda")
                row["peak_extra_gib"][m] = bench.peak_extra_gib_cuda(m, inputs)
                row["time_s"][m] = bench.time_fwd_bwd(m, inputs, repeats=args.repeats, warmup=1)
            except torch.OutOfMemoryError:
                row["time_s"][m] = row["peak_extra_gib"][m] = None
            inputs = None
            torch.cuda.empty_cache()
        results["sizes"][n] = row
        t, mem = row["time_s"], row["peak_extra_gib"]
        print(f"N={n}: time {t}  peak extra GiB {mem}", flush=True)
        t_target, m_target = TARGETS.get(n, (None, None))
        ours_t, ours_m = t["ours"], mem["ours"]
        oc_t, oc_m = t["open_clip"], mem["open_clip"]
        summary.append(
            {
                "capability": "clip",
                "metric": f"GPU loss fwd+bwd time, N={n} D={args.dim} {args.dtype}",
                "anchor": "open_clip ClipLoss math",
                "anchor_value": None if oc_t is None else round(oc_t * 1e3, 2),
                "ours": None if ours_t is None else round(ours_t * 1e3, 2),
                "ratio": None if (oc_t is None or ours_t is None) else oc_t / ours_t,
                "unit": "ms",
                "target": f"<= {t_target * 1e3:.0f} ms" if t_target else "runs",
                "met": ours_t is not None and (t_target is None or ours_t <= t_target),
            }
        )
        summary.append(
            {
                "capability": "clip",
                "metric": f"GPU peak extra memory, N={n} D={args.dim} {args.dtype}",
                "anchor": "open_clip ClipLoss math",
                "anchor_value": None if oc_m is None else round(oc_m, 3),
                "ours": None if ours_m is None else round(ours_m, 3),
                "ratio": None if (oc_m is None or not ours_m) else oc_m / ours_m,
                "unit": "GiB",
                "target": f"<= {m_target} GiB" if m_target else "report",
                "met": ours_m is not None and (m_target is None or ours_m <= m_target),
            }
        )
    write_result("clip-gpu", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
