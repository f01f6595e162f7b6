"""Per-step cost of the logits processor alone: ours vs transformers' ``WatermarkLogitsProcessor``.

One call per decoding step on (batch, 49152) scores, as inside ``generate``; process CPU time with one torch
thread (the box is shared) or CUDA-synchronised wall time on a GPU. The fraction of a decoding step it costs is
what bounds the generation overhead; this isolates it from the model's own (noisy) step time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import row, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--hf-calls", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers.generation.logits_process import WatermarkLogitsProcessor as HFProcessor

    from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    clock = time.perf_counter if cuda else time.process_time
    vocab = 49152

    def per_call(fn, ids, scores, calls) -> float:
        fn(ids, scores)
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
            ours = WatermarkLogitsProcessor(WatermarkConfig(seeding_scheme=scheme, context_width=width))
            hf = HFProcessor(vocab_size=vocab, device=device, seeding_scheme=scheme)
            times[f"ours {scheme}"] = per_call(ours, ids, scores, args.calls)
            times[f"transformers {scheme}"] = per_call(hf, ids, scores, args.hf_calls)
            print(
                f"batch {batch} {scheme}: ours {times[f'ours {scheme}']:.3f} ms/step, "
                f"transformers {times[f'transformers {scheme}']:.3f} ms/step",
                flush=True,
            )
            summary.append(
                row(
                    "watermark",
                    f"processor ms/step, {scheme}, batch {batch} x {vocab} ({device})",
                    anchor=f"transformers WatermarkLogitsProcessor {scheme}",
                    anchor_value=times[f"transformers {scheme}"],
                    ours=times[f"ours {scheme}"],
                    ratio=times[f"transformers {scheme}"] / times[f"ours {scheme}"],
                    unit="ms/step (ratio = speed-up)",
                    target="report",
                    met=None,
                )
            )
        results[f"batch{batch}"] = times
    write_result("watermark-processor", {"ms_per_step": results, "clock": clock.__name__}, summary)


if __name__ == "__main__":
    main()
