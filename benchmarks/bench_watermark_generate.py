"""Generation overhead: tokens/s of plain ``generate``, ours and transformers' built-in watermark, side by side.

CPU: the real default model (SmolLM2-135M-Instruct, fp32). GPU (when CUDA exists): a randomly initialised model
of SmolLM2's exact shape in bf16. Greedy decoding with ``min_new_tokens = max_new_tokens`` so every variant
produces the same number of tokens.

Noise control (the CPU box is shared): plain and ours are timed in ``--repeats`` interleaved trials (the order
rotates every trial) and each trial gives a ratio ours / plain from back-to-back calls; the verdict uses the
median ratio and the result keeps every trial's ratio (the spread is the noise). On CPU, tokens/s uses the
process's CPU time with one torch thread: other jobs stretch wall time by 2-10x but barely change CPU time.
transformers' built-in variants are timed ``--hf-repeats`` times; its ``selfhash`` draws a full-vocabulary
permutation per row per step, so above ``--hf-selfhash-full-max-batch`` it runs ``--hf-selfhash-tokens`` new
tokens and its tok/s is compared with plain on the same number of tokens (timed alongside).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import row, write_result  # noqa: E402

OURS = ("ours lefthash", "ours selfhash-4")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plan", default="1:200,8:200,64:200", help="batch:new_tokens pairs")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved plain/ours trials per batch")
    ap.add_argument("--hf-repeats", type=int, default=1)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--hf-selfhash-tokens", type=int, default=24)
    ap.add_argument("--hf-selfhash-full-max-batch", type=int, default=8)
    ap.add_argument("--name", default="watermark-generate", help="result file stem")
    ap.add_argument("--ours", default=",".join(OURS), help="which of ours to time (comma-separated)")
    ap.add_argument("--no-hf", action="store_true", help="skip transformers' built-in variants")
    ap.add_argument(
        "--cpu-dtype",
        choices=("fp32", "bf16"),
        default="fp32",
        help="model dtype on CPU (bf16: a ~2x faster model step, so the watermark's share is larger)",
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (2 thrash on the shared 2-core box)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import LogitsProcessorList, WatermarkingConfig

    from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor

    cuda = torch.cuda.is_available()
    if cuda:
        from hf_addons.testing import smollm2_shaped_lm

        model = smollm2_shaped_lm(dtype=torch.bfloat16, device="cuda")
        model_name = "random SmolLM2-shaped, bf16, CUDA"
    else:
        from hf_addons.models import load_model

        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.cpu_dtype]
        model, _ = load_model(device="cpu", dtype=dtype)
        model_name = f"SmolLM2-135M-Instruct, {args.cpu_dtype}, CPU"
    model.generation_config.pad_token_id = model.config.eos_token_id or 0
    device = next(model.parameters()).device
    vocab = model.config.vocab_size
    # CPU: process CPU time (one torch thread); GPU: wall time after synchronising
    clock = time.perf_counter if cuda else time.process_time

    def time_generate(batch, new_tokens, **kw) -> float:
        torch.manual_seed(0)
        ids = torch.randint(3, vocab, (batch, args.prompt_len), device=device)
        if cuda:
            torch.cuda.synchronize()
        t0 = clock()
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                **kw,
            )
        if cuda:
            torch.cuda.synchronize()
        assert out.shape[1] == args.prompt_len + new_tokens
        return batch * new_tokens / (clock() - t0)

    def ours(scheme: str, width: int) -> dict:
        cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=15485863)
        return {"logits_processor": LogitsProcessorList([WatermarkLogitsProcessor(cfg)])}

    ours_names = [n for n in OURS if n in args.ours.split(",")]
    variants = {"plain": {}, "ours lefthash": ours("lefthash", 1), "ours selfhash-4": ours("selfhash", 4)}
    variants = {n: kw for n, kw in variants.items() if n == "plain" or n in ours_names}
    hf = (
        {}
        if args.no_hf
        else {
            "transformers lefthash": {"watermarking_config": WatermarkingConfig(seeding_scheme="lefthash")},
            "transformers selfhash": {"watermarking_config": WatermarkingConfig(seeding_scheme="selfhash")},
        }
    )
    time_generate(1, 4)  # warm-up
    results: dict[str, dict] = {}
    summary = []
    for item in args.plan.split(","):
        batch, new_tokens = (int(x) for x in item.split(":"))
        names = list(variants)
        trials: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no fixed position bias
            for name in order:
                tps = time_generate(batch, new_tokens, **variants[name])
                trials[name].append(tps)
                print(f"batch {batch} x {new_tokens} trial {r}: {name}: {tps:,.2f} tok/s", flush=True)
        ratios = {n: [o / p for o, p in zip(trials[n], trials["plain"], strict=True)] for n in ours_names}
        res: dict = {"new_tokens": new_tokens, "trials_tok_s": trials, "trial_ratios_vs_plain": ratios}
        res["median_tok_s"] = {n: statistics.median(v) for n, v in trials.items()}
        for name, kw in hf.items():
            n_tok = new_tokens
            if name == "transformers selfhash" and batch > args.hf_selfhash_full_max_batch:
                n_tok = min(new_tokens, args.hf_selfhash_tokens)
            runs = []
            for _ in range(args.hf_repeats):
                runs.append(time_generate(batch, n_tok, **kw))
                print(f"batch {batch} x {n_tok}: {name}: {runs[-1]:,.2f} tok/s", flush=True)
            res["median_tok_s"][name] = statistics.median(runs)
            res.setdefault("hf_new_tokens", {})[name] = n_tok
            if n_tok != new_tokens:  # ours and plain on the same short length, for a like-for-like ratio
                for other in ("plain", "ours selfhash-4") if "ours selfhash-4" in variants else ():
                    tps = time_generate(batch, n_tok, **variants[other])
                    res["median_tok_s"][f"{other} x {n_tok}"] = tps
                    print(f"batch {batch} x {n_tok}: {other}: {tps:,.2f} tok/s", flush=True)
        results[f"batch{batch}"] = res
        med = res["median_tok_s"]
        for name in ours_names:
            ratio = statistics.median(ratios[name])
            print(
                f"batch {batch}: {name} / plain median {ratio:.4f} "
                f"(trials {', '.join(f'{x:.3f}' for x in ratios[name])})",
                flush=True,
            )
            summary.append(
                row(
                    "watermark",
                    f"generate tok/s, {name} vs plain, batch {batch} x {new_tokens} ({model_name}; "
                    f"median of {args.repeats} interleaved trials, ratio spread "
                    f"{min(ratios[name]):.3f}-{max(ratios[name]):.3f})",
                    anchor="plain generate",
                    anchor_value=med["plain"],
                    ours=med[name],
                    ratio=ratio,
                    unit="tok/s",
                    target=">= 0.97x plain",
                    met=ratio >= 0.97,
                )
            )
        for ours_name, hf_name in (
            ("ours lefthash", "transformers lefthash"),
            ("ours selfhash-4", "transformers selfhash"),
        ):
            if hf_name not in med or ours_name not in variants:
                continue
            n_tok = res["hf_new_tokens"][hf_name]
            ours_tps = med[ours_name] if n_tok == new_tokens else med[f"{ours_name} x {n_tok}"]
            summary.append(
                row(
                    "watermark",
                    f"generate tok/s, {ours_name} vs {hf_name}, batch {batch} x {n_tok} ({model_name})",
                    anchor=hf_name,
                    anchor_value=med[hf_name],
                    ours=ours_tps,
                    ratio=ours_tps / med[hf_name],
                    unit="tok/s",
                    target="report",
                    met=None,
                )
            )
    write_result(
        args.name,
        {
            "model": model_name,
            "plan": args.plan,
            "repeats": args.repeats,
            "clock": clock.__name__,
            "threads": args.threads,
            "batches": results,
            "note": "greedy, forced length; CPU tok/s from process CPU time with 1 torch thread (the box is "
            "shared); the plain/ours verdict is the median of per-trial ratios from interleaved calls",
        },
        summary,
    )


if __name__ == "__main__":
    main()
