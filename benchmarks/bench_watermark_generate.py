"""Generation overhead: tokens/s of plain ``generate``, ours and transformers' built-in watermark, side by side.

CPU: the real default model (SmolLM2-135M-Instruct, fp32). GPU (when CUDA exists): a randomly initialised model
of SmolLM2's exact shape in bf16. Greedy decoding with ``min_new_tokens = max_new_tokens`` so every variant
produces the same number of tokens; variants are interleaved and each timed ``--repeats`` times (best kept),
because the machine is shared. On CPU, tokens/s uses the process's CPU time (one torch thread), not wall time:
other jobs on a shared box stretch wall time by 2-10x but barely change CPU time. transformers' ``selfhash`` draws 40 permutations per row per step and is timed
on fewer new tokens (``--hf-selfhash-tokens``) and reported as tokens/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plan", default="1:200,8:200", help="batch:new_tokens pairs (GPU default adds 64:200)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--hf-selfhash-tokens", type=int, default=16)
    ap.add_argument("--skip-hf-selfhash-above", type=int, default=8, help="largest batch timed for it")
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
        plan = args.plan if args.plan != "1:200,8:200" else "1:200,8:200,64:200"
    else:
        from hf_addons.models import load_model

        model, _ = load_model(device="cpu")
        model_name = "SmolLM2-135M-Instruct, fp32, CPU"
        plan = args.plan
    model.generation_config.pad_token_id = model.config.eos_token_id or 0
    device = next(model.parameters()).device
    vocab = model.config.vocab_size

    def time_generate(batch, new_tokens, **kw) -> float:
        torch.manual_seed(0)
        ids = torch.randint(3, vocab, (batch, args.prompt_len), device=device)
        if cuda:
            torch.cuda.synchronize()
        # CPU: process CPU time (one torch thread), which other jobs on the shared box barely perturb;
        # GPU: wall time after synchronising
        clock = time.perf_counter if cuda else time.process_time
        t0 = clock()
        with torch.no_grad():
            out = model.generate(
                ids, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kw
            )
        if cuda:
            torch.cuda.synchronize()
        assert out.shape[1] == args.prompt_len + new_tokens
        return batch * new_tokens / (clock() - t0)

    ours_left = WatermarkConfig(seeding_scheme="lefthash", context_width=1, hashing_key=15485863)
    ours_self = WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=15485863)
    variants = {
        "plain": {},
        "ours lefthash": {"logits_processor": LogitsProcessorList([WatermarkLogitsProcessor(ours_left)])},
        "ours selfhash-4": {"logits_processor": LogitsProcessorList([WatermarkLogitsProcessor(ours_self)])},
        "transformers lefthash": {"watermarking_config": WatermarkingConfig(seeding_scheme="lefthash")},
        "transformers selfhash": {"watermarking_config": WatermarkingConfig(seeding_scheme="selfhash")},
    }
    time_generate(1, 4)  # warm-up
    results: dict[str, dict[str, float]] = {}
    summary = []
    for item in plan.split(","):
        batch, new_tokens = (int(x) for x in item.split(":"))
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, kw in variants.items():
                n = new_tokens
                if name == "transformers selfhash":
                    if batch > args.skip_hf_selfhash_above:
                        continue
                    n = min(new_tokens, args.hf_selfhash_tokens)
                tps = time_generate(batch, n, **kw)
                best[name] = max(best.get(name, 0.0), tps)
                print(f"batch {batch} x {n}: {name}: {tps:,.1f} tok/s", flush=True)
        results[f"batch{batch}"] = {**best, "new_tokens": new_tokens}
        for name in ("ours lefthash", "ours selfhash-4"):
            ratio = best[name] / best["plain"]
            summary.append(
                {
                    "capability": "watermark",
                    "metric": f"generate tok/s, {name} vs plain, batch {batch} x {new_tokens} ({model_name})",
                    "anchor": "plain generate",
                    "anchor_value": round(best["plain"], 1),
                    "ours": round(best[name], 1),
                    "ratio": ratio,
                    "unit": "tok/s",
                    "target": ">= 0.97x plain",
                    "met": ratio >= 0.97,
                }
            )
        for ours_name, hf_name in (
            ("ours lefthash", "transformers lefthash"),
            ("ours selfhash-4", "transformers selfhash"),
        ):
            if hf_name in best:
                summary.append(
                    {
                        "capability": "watermark",
                        "metric": f"generate tok/s, {ours_name} vs {hf_name}, batch {batch} ({model_name})",
                        "anchor": hf_name,
                        "anchor_value": round(best[hf_name], 1),
                        "ours": round(best[ours_name], 1),
                        "ratio": best[ours_name] / best[hf_name],
                        "unit": "tok/s",
                        "target": "report",
                        "met": None,
                    }
                )
    write_result(
        "watermark-generate",
        {
            "model": model_name,
            "plan": plan,
            "repeats": args.repeats,
            "tok_s": results,
            "note": "greedy, forced length; CPU tok/s from process CPU time with 1 torch thread (the box is shared); transformers selfhash timed on fewer tokens",
        },
        summary,
    )


if __name__ == "__main__":
    main()
