"""Detection throughput: ours vs transformers' ``WatermarkDetector`` on 64 x 512 tokens (SmolLM2 vocab).

Same ids, same settings (lefthash, context 1, gamma 0.25), both on CPU in one process. transformers' detector
draws a seeded ``randperm`` of the vocabulary per token, so it is timed on the first ``--hf-rows`` rows and
reported as tokens/s (its cost is linear in tokens). Our interop mode (which reproduces transformers' seeding
and so also draws one permutation per distinct seed) is reported too, with its scores checked equal. Times are
process CPU time with one torch thread: the box is shared, and CPU time is what other jobs barely perturb.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import row, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--hf-rows", type=int, default=4, help="rows timed with transformers' detector")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (2 thrash on the shared 2-core box)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import LlamaConfig, WatermarkingConfig
    from transformers import WatermarkDetector as HFDetector

    from hf_addons.testing import SMOLLM2_135M_SHAPE
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector
    from hf_addons.watermark.scan import null_table

    vocab = SMOLLM2_135M_SHAPE["vocab_size"]
    model_config = LlamaConfig(vocab_size=vocab, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    ids = torch.randint(3, vocab, (args.batch, args.length))
    n_tokens = ids.numel()
    wcfg = WatermarkingConfig(greenlist_ratio=0.25, bias=2.0, seeding_scheme="lefthash", context_width=1)

    ours = WatermarkDetector(WatermarkConfig(gamma=0.25, hashing_key=15485863, ignore_repeated_ngrams=False))
    ours.score_ids(ids)  # warm-up (tables)
    times = []
    for _ in range(args.repeats):
        t0 = time.process_time()
        ours.score_ids(ids)
        times.append(time.process_time() - t0)
    ours_tps = n_tokens / statistics.median(times)
    # the default detector: repeated decisions counted once, exact p-values; and the windowed scan (WinMax)
    ours_rep = WatermarkDetector(WatermarkConfig(gamma=0.25, hashing_key=15485863))
    # the first windowed call simulates the scan's null tables (one per text length rung), then they are cached
    saved = os.environ.get("HF_ADDONS_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HF_ADDONS_CACHE"] = cache
        null_table.cache_clear()
        t0 = time.process_time()
        ours_rep.detect_ids(ids, windowed=True)
        cold_win_s = time.process_time() - t0
        tables = null_table.cache_info().currsize
        os.environ.pop("HF_ADDONS_CACHE")
        if saved is not None:
            os.environ["HF_ADDONS_CACHE"] = saved
    rep_times, win_times = [], []
    for _ in range(args.repeats):
        t0 = time.process_time()
        ours_rep.score_ids(ids)
        rep_times.append(time.process_time() - t0)
        t0 = time.process_time()
        ours_rep.detect_ids(ids, windowed=True)
        win_times.append(time.process_time() - t0)
    ours_rep_tps = n_tokens / statistics.median(rep_times)
    ours_win_tps = n_tokens / statistics.median(win_times)

    sub = ids[: args.hf_rows]
    hf = HFDetector(model_config, "cpu", wcfg, ignore_repeated_ngrams=False)
    t0 = time.process_time()
    theirs = hf(sub, return_dict=True)
    hf_s = time.process_time() - t0
    hf_tps = sub.numel() / hf_s

    interop = WatermarkDetector(WatermarkConfig.from_transformers(wcfg, vocab_size=vocab))
    t0 = time.process_time()
    mine = interop.score_ids(sub)
    interop_s = time.process_time() - t0
    interop_tps = sub.numel() / interop_s
    same = mine["num_green"].tolist() == theirs.num_green_tokens.tolist()
    print(
        f"ours (repeats counted once) {ours_rep_tps:,.0f} tok/s; windowed detect_ids {ours_win_tps:,.0f} tok/s "
        f"(first call {cold_win_s:.2f} s, simulating {tables} null tables)",
        flush=True,
    )
    print(
        f"ours {ours_tps:,.0f} tok/s; transformers {hf_tps:,.0f} tok/s; interop {interop_tps:,.0f} tok/s; same={same}"
    )

    summary = [
        row(
            "watermark",
            f"detector tokens/s ({args.batch}x{args.length}, CPU)",
            anchor="transformers WatermarkDetector",
            anchor_value=hf_tps,
            ours=ours_tps,
            ratio=ours_tps / hf_tps,
            unit="tok/s",
            target=">= 100x",
            met=ours_tps / hf_tps >= 100,
        ),
        row(
            "watermark",
            "detector tokens/s, transformers-seeding interop mode (CPU)",
            anchor="transformers WatermarkDetector",
            anchor_value=hf_tps,
            ours=interop_tps,
            ratio=interop_tps / hf_tps,
            unit="tok/s",
            target="same scores (checked)",
            met=same,
        ),
    ]
    payload = {
        "ours_seconds": times,
        "ours_tokens": n_tokens,
        "ours_ignore_repeated_tok_s": ours_rep_tps,
        "ours_ignore_repeated_seconds": rep_times,
        "ours_windowed_detect_ids_tok_s": ours_win_tps,
        "ours_windowed_seconds": win_times,
        "ours_windowed_first_call_seconds": cold_win_s,  # with an empty table cache
        "null_tables_simulated": tables,
        "transformers_tokens": sub.numel(),
        "transformers_seconds": hf_s,
        "interop_seconds": interop_s,
        "interop_scores_equal_transformers": same,
        "note": "transformers timed on a subset of rows (linear cost per token); process CPU time, 1 thread",
    }
    write_result("watermark-detect", payload, summary)


if __name__ == "__main__":
    main()
