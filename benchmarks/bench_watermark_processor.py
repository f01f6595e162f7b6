"""Per-step cost of the logits processor alone: ours (eager blocked and fused) vs transformers' processor.

One call per decoding step on (batch, 49152) scores, as inside ``generate``; process CPU time with one torch
thread (the box is shared) or CUDA-synchronised wall time on a GPU. The fraction of a decoding step it costs is
what bounds the generation overhead; this isolates it from the model's own (noisy) step time.

Columns: ``ours`` is the eager path (``fused=False``: row blocks in L2 on CPU, one block on GPU), ``ours fused``
the compiled one-pass CPU kernel (``fused=True``; its compile is in the untimed first call), ``auto`` says which
one the default policy picks at that size. ``--compile-cost`` also measures the one-time compile (wall time, in
fresh subprocesses: a cold inductor cache in an empty ``TORCHINDUCTOR_CACHE_DIR``, then warm from that cache).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import row, write_result  # noqa: E402

# one fresh process: wall time of the first fused call (fp32, then bf16) minus a steady call, at batch 64
_COMPILE_PROBE = r"""
import json, time, torch
torch.set_num_threads(1)
t0 = time.perf_counter()
from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor
t_import = time.perf_counter() - t0
proc = WatermarkLogitsProcessor(WatermarkConfig(seeding_scheme="selfhash", context_width=4), fused=True)
ids = torch.randint(3, 49152, (64, 64))
out = {"import_s": t_import}
for dtype in (torch.float32, torch.bfloat16):
    scores = torch.randn(64, 49152).to(dtype)
    t0 = time.perf_counter(); proc(ids, scores); first = time.perf_counter() - t0
    t0 = time.perf_counter(); proc(ids, scores); steady = time.perf_counter() - t0
    out[str(dtype).replace("torch.", "")] = first - steady
print("PROBE " + json.dumps(out))
"""


def compile_cost() -> dict:
    """Cold and warm one-time compile cost (seconds of wall time) in fresh processes."""
    res = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, OMP_NUM_THREADS="1")
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", _COMPILE_PROBE], env=env, capture_output=True, text=True, check=True
            )
            total = time.perf_counter() - t0
            line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE "))
            res[label] = {**json.loads(line[len("PROBE ") :]), "process_wall_s": total}
            print(f"compile cost {label}: {res[label]}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--hf-calls", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--compile-cost", action="store_true", help="also time the one-time compile, cold and warm"
    )
    ap.add_argument("--name", default="watermark-processor", help="result file stem")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers.generation.logits_process import WatermarkLogitsProcessor as HFProcessor

    from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor
    from hf_addons.watermark.processor import FUSED_MIN_SCORES

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    clock = time.perf_counter if cuda else time.process_time
    vocab = 49152

    def per_call(fn, ids, scores, calls) -> float:
        fn(ids, scores)  # warm-up: tables, buffers and (fused) the compile
        if cuda:
            torch.cuda.synchronize()
        t0 = clock()
        for _ in range(calls):
            fn(ids, scores)
        if cuda:
            torch.cuda.synchronize()
        return (clock() - t0) / calls * 1e3

    results, summary = {}, []
    for batch in (int(b) for b in args.batches.split(",")):
        torch.manual_seed(0)
        ids = torch.randint(3, vocab, (batch, 64), device=device)
        scores = torch.randn(batch, vocab, device=device)
        times = {}
        for scheme, width in (("lefthash", 1), ("selfhash", 4)):
            cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width)
            hf = HFProcessor(vocab_size=vocab, device=device, seeding_scheme=scheme)
            times[f"ours {scheme}"] = per_call(
                WatermarkLogitsProcessor(cfg, fused=False), ids, scores, args.calls
            )
            if not cuda:  # the fused kernel is CPU-only
                fused = WatermarkLogitsProcessor(cfg, fused=True)
                times[f"ours fused {scheme}"] = per_call(fused, ids, scores, args.calls)
            times[f"transformers {scheme}"] = per_call(hf, ids, scores, args.hf_calls)
            # the default policy's own choice, now that the kernel is compiled (steady state)
            auto = "fused" if WatermarkLogitsProcessor(cfg)._wants_fused(scores) else "eager"
            times[f"auto picks {scheme}"] = auto
            print(
                f"batch {batch} {scheme}: ours eager {times[f'ours {scheme}']:.3f} ms/step, "
                + (f"ours fused {times[f'ours fused {scheme}']:.3f} ms/step, " if not cuda else "")
                + f"transformers {times[f'transformers {scheme}']:.3f} ms/step (auto picks {auto})",
                flush=True,
            )
            best = times[f"ours fused {scheme}" if auto == "fused" else f"ours {scheme}"]
            summary.append(
                row(
                    "watermark",
                    f"processor ms/step, {scheme}, batch {batch} x {vocab} ({device}, default policy: {auto})",
                    anchor=f"transformers WatermarkLogitsProcessor {scheme}",
                    anchor_value=times[f"transformers {scheme}"],
                    ours=best,
                    ratio=times[f"transformers {scheme}"] / best,
                    unit="ms/step (ratio = speed-up)",
                    target="report",
                    met=None,
                )
            )
        results[f"batch{batch}"] = times
    payload = {"ms_per_step": results, "clock": clock.__name__, "fused_min_scores": FUSED_MIN_SCORES}
    if args.compile_cost and not cuda:
        payload["fused_compile_cost_s"] = compile_cost()
    write_result(args.name, payload, summary)


if __name__ == "__main__":
    main()
