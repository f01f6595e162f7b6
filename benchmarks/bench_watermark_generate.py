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

Ours runs with the processor's default ``fused="auto"`` policy (``--fused`` overrides it): on CPU, from 2**18
scores per step (batch >= 6 here), it uses the compiled fused kernel once that is compiled. The benchmark
measures steady state, so it compiles up front (``precompile_fused``, wall time kept as ``precompile_wall_s``)
unless ``--fused off``; then before each batch size's trials every variant generates 2 tokens untimed
(``warmup_wall_s``).
``--share-tokens N`` also times the processor's own calls inside ``generate`` (N tokens, with the policy and
with ``fused=False``): its share of a real decoding step, free of the run-to-run noise of tok/s ratios.
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
        "--share-tokens",
        type=int,
        default=0,
        help="also time the processor itself inside generate over this many tokens (policy and eager)",
    )
    ap.add_argument(
        "--fused", choices=("auto", "on", "off"), default="auto", help="ours: fused kernel policy"
    )
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

    from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor, precompile_fused

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

    policy = {"auto": "auto", "on": True, "off": False}[args.fused]
    schemes = {"ours lefthash": ("lefthash", 1), "ours selfhash-4": ("selfhash", 4)}

    def processor(name: str, fused) -> WatermarkLogitsProcessor:
        scheme, width = schemes[name]
        cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=15485863)
        return WatermarkLogitsProcessor(cfg, fused=fused)

    def ours(name: str) -> dict:
        return {"logits_processor": LogitsProcessorList([processor(name, policy)])}

    class Timed:
        """Accumulates the processor's own time per call inside ``generate`` (its share of a real step)."""

        def __init__(self, proc):
            self.proc, self.seconds, self.calls = proc, 0.0, 0

        def __call__(self, input_ids, scores):
            t0 = clock()
            out = self.proc(input_ids, scores)
            if cuda:
                torch.cuda.synchronize()
            self.seconds += clock() - t0
            self.calls += 1
            return out

    def processor_share(batch: int, name: str, fused) -> dict:
        timed = Timed(processor(name, fused))
        time_generate(batch, 2, logits_processor=LogitsProcessorList([timed]))  # tables, buffers, compile
        timed.seconds, timed.calls = 0.0, 0
        step = batch / time_generate(batch, args.share_tokens, logits_processor=LogitsProcessorList([timed]))
        per_call = timed.seconds / timed.calls
        return {"processor_ms_per_step": per_call * 1e3, "step_ms": step * 1e3, "share": per_call / step}

    ours_names = [n for n in OURS if n in args.ours.split(",")]
    variants = {"plain": {}, **{n: ours(n) for n in schemes}}
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
    precompile_wall_s = None
    if not cuda and args.fused != "off":
        t0 = time.perf_counter()
        precompile_fused(torch.float32)  # generate hands processors fp32 scores
        precompile_wall_s = time.perf_counter() - t0
        print(f"precompile_fused: {precompile_wall_s:.2f} s wall", flush=True)
    results: dict[str, dict] = {}
    summary = []
    for item in args.plan.split(","):
        batch, new_tokens = (int(x) for x in item.split(":"))
        names = list(variants)
        warmup = {}
        for name in names[1:] + names[:1]:  # ours first: the compile (if any) lands in ours' warm-up
            t0 = time.perf_counter()
            time_generate(batch, 2, **variants[name])
            warmup[name] = time.perf_counter() - t0
        print(f"batch {batch} warm-up (2 tokens, wall s): {warmup}", flush=True)
        trials: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no fixed position bias
            for name in order:
                tps = time_generate(batch, new_tokens, **variants[name])
                trials[name].append(tps)
                print(f"batch {batch} x {new_tokens} trial {r}: {name}: {tps:,.2f} tok/s", flush=True)
        ratios = {n: [o / p for o, p in zip(trials[n], trials["plain"], strict=True)] for n in ours_names}
        res: dict = {
            "new_tokens": new_tokens,
            "warmup_wall_s": warmup,
            "trials_tok_s": trials,
            "trial_ratios_vs_plain": ratios,
        }
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
        if args.share_tokens:  # the processor's own time inside generate: far less noisy than tok/s ratios
            res["processor_in_generate"] = {}
            for name in ours_names:
                for label, fused in (("policy", policy), ("eager", False)):
                    m = processor_share(batch, name, fused)
                    res["processor_in_generate"][f"{name} ({label})"] = m
                    print(
                        f"batch {batch} {name} ({label}, fused={fused}): processor "
                        f"{m['processor_ms_per_step']:.2f} ms of a {m['step_ms']:.1f} ms step "
                        f"({m['share']:.2%}) inside generate",
                        flush=True,
                    )
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
            "fused": args.fused,
            "precompile_wall_s": precompile_wall_s,
            "batches": results,
            "note": "greedy, forced length; CPU tok/s from process CPU time with 1 torch thread (the box is "
            "shared); the plain/ours verdict is the median of per-trial ratios from interleaved calls",
        },
        summary,
    )


if __name__ == "__main__":
    main()
