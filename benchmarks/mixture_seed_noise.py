"""Where the mixture search's seed noise comes from: vary one source of randomness at a time.

A proxy's seed sets three things (``hf_addons.data.mixture.search.seed_of``): the initial weights (``init``),
which documents the token-true mixture draws (``sample``) and the batch order (``order``). This trains proxies
of the benchmark's search scale on the natural mixture of the benchmark's four domains, with seeds
``0 .. --seeds - 1`` on one part and 0 on the others (``all``: every part), and reports the standard deviation
of the objective across seeds per variant, beside the spread of the objective across the searched mixtures.
``--hidden 264 --layers 4 --tokens 1000000 --base-seed 1000`` does the same at the validation proxy.
Runs share ``bench_mixture_search.py``'s cache (same data, proxy and budget: its seed-noise runs are reused).
``--mixture optimum`` (or ``uniform``) measures another mixture: the optimum is the ``--search-result``'s.

``--eval-sizes 16384,65536`` asks whether evaluating more held-out tokens averages the noise down: each
proxy's model is kept and scored again on that many tokens of each validation set (blocks spaced evenly
over the ``--eval-tokens`` ones, as the search picks them), and each size's seed sd is reported.

    python benchmarks/mixture_seed_noise.py --cache-dir runs/mixture-search --seeds 5
    python benchmarks/mixture_seed_noise.py --parts init --lr 2.5e-3 --name mixture-seed-noise-lr2.5e-3
    python benchmarks/mixture_seed_noise.py --val-every web=4 --parts all --base-seed 1000 \
        --eval-tokens 1000000000 --eval-sizes 16384,65536 --name mixture-seed-noise-eval
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_slug, write_result  # noqa: E402
from mixture_corpora import VAL_EVERY, add_run_args, parse_val_every, prepared_search  # noqa: E402


def seed_spread(losses: list[dict[str, float]], objective: dict[str, float]) -> dict:
    """Per-seed validation losses (domain -> loss) -> the objective per seed, its mean, sd and range."""
    from hf_addons.data.mixture.space import score_objective

    obj = [score_objective(v, objective) for v in losses]
    return {
        "objective": obj,
        "mean": float(np.mean(obj)),
        "std": float(np.std(obj, ddof=1)) if len(obj) > 1 else None,  # one seed: no spread to estimate
        "range": float(np.ptp(obj)),
        "domain_std": {
            d: float(np.std([v[d] for v in losses], ddof=1)) if len(obj) > 1 else None for d in losses[0]
        },
    }


def eval_size_noise(specs, runs, bundle_path, cache_dir, sizes, objective) -> dict[str, dict]:
    """Each run's kept model scored on ``sizes`` tokens per validation set: the objective's seed sd per size."""
    from transformers import LlamaForCausalLM

    from hf_addons.data.mixture.bundle import cached_tokenizer, load_bundle, spaced_blocks
    from hf_addons.data.mixture.proxy import ProxyConfig, evaluate_proxy, model_dir

    bundle = load_bundle(bundle_path)
    tok = cached_tokenizer(bundle.tokenizer_path)
    proxy = ProxyConfig(**specs[0]["proxy"])
    full = bundle.proxy_val_blocks(proxy.vocab, len(tok))
    subsets = {
        size: {d: spaced_blocks(b, max(size // proxy.seq_len, 1)) for d, b in full.items()} for size in sizes
    }
    losses = {size: [] for size in sizes}
    for spec in specs:  # each model loaded once, scored at every size
        model = LlamaForCausalLM.from_pretrained(model_dir(cache_dir, spec))
        for size, blocks in subsets.items():
            losses[size].append(evaluate_proxy(model, blocks, proxy.batch_size * 4))
    out = {
        str(size): {"blocks": {d: len(b) for d, b in blocks.items()}, **seed_spread(losses[size], objective)}
        for size, blocks in subsets.items()
    }
    # the runs' own losses are on every --eval-tokens block: the largest size
    out["all"] = {
        "blocks": {d: len(b) for d, b in full.items()},
        **seed_spread([r["val_loss"] for r in runs], objective),
    }
    return out


def main() -> None:
    from hf_addons.data.mixture.proxy import SEED_PARTS, ProxyConfig, proxy_spec, run_proxies

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="all,init,sample,order", help="comma-separated: all and/or SEED_PARTS")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument(
        "--base-seed", type=int, default=0, help="seeds base .. base + seeds - 1; the fixed parts: base"
    )
    p.add_argument("--tokens", type=int, default=200_000)
    p.add_argument("--hidden", type=int, default=128, help="bench_mixture_search's validation proxy: 264")
    p.add_argument("--layers", type=int, default=2, help="bench_mixture_search's validation proxy: 4")
    p.add_argument("--lr", type=float, default=None, help="default: ProxyConfig's, carried to --hidden")
    p.add_argument("--warmup-ratio", type=float, default=None, help="default: ProxyConfig's")
    p.add_argument("--batch-size", type=int, default=None, help="default: ProxyConfig's")
    p.add_argument("--eval-tokens", type=int, default=16_384)
    p.add_argument("--eval-sizes", default=None, help="comma-separated token counts <= --eval-tokens")
    p.add_argument("--mixture", default="natural", choices=["natural", "uniform", "optimum"])
    p.add_argument("--search-result", default=None, help="default: results/mixture-search-<machine>.json")
    add_run_args(p, val_every=str(VAL_EVERY), name="mixture-seed-noise")
    args = p.parse_args()
    parts = args.parts.split(",")
    if set(parts) - {"all", *SEED_PARTS} or args.seeds < 2:
        raise SystemExit(
            f"--parts {args.parts!r} --seeds {args.seeds}: parts from all,{','.join(SEED_PARTS)}; >= 2 seeds"
        )

    recipe = {
        k: v
        for k, v in (("warmup_ratio", args.warmup_ratio), ("batch_size", args.batch_size))
        if v is not None
    }
    # bench_mixture_search.py's proxies: the search's by default, its validation proxy at --hidden 264 --layers 4
    proxy = ProxyConfig(**recipe).at_width(args.hidden, args.layers, learning_rate=args.lr)
    sizes = [int(x) for x in args.eval_sizes.split(",")] if args.eval_sizes else []
    if any(not 0 < n < args.eval_tokens for n in sizes):
        raise SystemExit(
            f"--eval-sizes {args.eval_sizes}: each must be > 0 and < --eval-tokens {args.eval_tokens}"
        )
    search_path = Path(args.search_result or RESULTS / f"mixture-search-{machine_slug()}.json").resolve()
    val_every = parse_val_every(args.val_every)
    domains, space, bundle, bundle_path, objective = prepared_search(
        val_every,
        args.cache_dir,
        tokens_per_run=args.tokens,
        seq_len=proxy.seq_len,
        eval_tokens=args.eval_tokens,
        max_epochs=args.max_epochs,
        max_doc_tokens=args.max_doc_tokens,
        stratify=args.stratify,
        web=args.web,
    )

    def seed(part: str, s: int) -> dict[str, int]:
        return {q: args.base_seed + (s if part in ("all", q) else 0) for q in SEED_PARTS}

    jobs = [(part, s) for part in parts for s in range(args.seeds)]
    if args.mixture == "optimum":
        weights = json.loads(search_path.read_text())["results"]["search"]["weights"]
    else:
        weights = (
            space.natural if args.mixture == "natural" else dict.fromkeys(space.names, 1 / len(space.names))
        )
    specs = [proxy_spec(weights, space, proxy, bundle, seed(part, s)) for part, s in jobs]
    t0 = time.perf_counter()
    res = run_proxies(
        specs,
        bundle_path,
        args.cache_dir,
        args.workers,
        desc="seed-noise proxies",
        save_model=bool(sizes),
    )
    wall = time.perf_counter() - t0

    variants = {}
    for part in parts:
        runs = [r for (q, _), r in zip(jobs, res, strict=True) if q == part]
        variants[part] = seed_spread([r["val_loss"] for r in runs], objective)
        v = variants[part]
        per = " ".join(f"{d} {s:.3f}" for d, s in v["domain_std"].items())
        print(
            f"{part:6s} objective {v['mean']:.3f} sd {v['std']:.4f} range {v['range']:.4f} | domain sd {per}"
        )

    by_size = {}
    if sizes:  # one variant: the first part's runs
        at = [i for i, (q, _) in enumerate(jobs) if q == parts[0]]
        by_size = eval_size_noise(
            [specs[i] for i in at], [res[i] for i in at], bundle_path, args.cache_dir, sizes, objective
        )
        for size, v in by_size.items():
            per = " ".join(f"{d} {x:.3f}" for d, x in v["domain_std"].items())
            print(
                f"eval {size:>6s} tokens: objective sd {v['std']:.4f} range {v['range']:.4f} | domain sd {per}"
            )
    across = None
    if search_path.exists():
        across = (
            json.loads(search_path.read_text())["results"].get("seed_noise", {}).get("across_mixtures_std")
        )
        print(f"across the searched mixtures (one seed): sd {across}")
    write_result(
        args.name,
        {
            "mixture": args.mixture,
            "weights": weights,
            "val_every": val_every,
            "data_sha256": {k: v["sha256"] for k, v in domains.items()},
            "web_sources": list(args.web),
            "proxy": asdict(proxy),
            "tokens": args.tokens,
            "seeds": list(range(args.base_seed, args.base_seed + args.seeds)),
            "variants": variants,
            **(
                {"eval_sizes": {"part": parts[0], "eval_tokens": args.eval_tokens, "sizes": by_size}}
                if sizes
                else {}
            ),
            "across_mixtures_std": across,
            "across_mixtures_from": str(search_path.relative_to(RESULTS.parent.parent)) if across else None,
            "trained": sum(not r.get("cached") for r in res),
            "wall_s": wall,
        },
        [],  # a diagnosis, not a headline: docs/data-mixture.md reads it
    )


if __name__ == "__main__":
    main()
