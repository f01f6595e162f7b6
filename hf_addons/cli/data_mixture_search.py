"""``hf-addons data mixture-search``: domain weights of a pre-training mixture from small proxy models.

``--method regmix`` (default) trains ``--runs`` proxies on sampled mixtures and regresses; ``--method doremi``
trains a reference proxy on ``--reference`` and a Group-DRO proxy against it (two runs of ``--tokens-per-run``).

Sources, validation and test sets are JSONL files (one document per line, text in ``--text-column``). Writes
``weights.json`` (ready for ``hf-addons data mixture --weights`` / ``build_mixture``), ``search.json``,
``mixture-search.png`` and ``dataset-card.md`` to ``--out-dir``; proxy runs are cached there (resumable).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mixture-search",
        help="Find domain weights with small proxy models: RegMix (sample, train, regress, optimise) or DoReMi.",
        description="Example: --source code=code.jsonl --validation code=code-val.jsonl --source web=web.jsonl "
        "--validation web=web-val.jsonl --objective mean --runs 32 --out-dir search/",
    )
    p.add_argument("--source", action="append", required=True, metavar="NAME=PATH.jsonl")
    p.add_argument("--validation", action="append", required=True, metavar="NAME=PATH.jsonl")
    p.add_argument(
        "--test",
        action="append",
        default=None,
        metavar="NAME=PATH.jsonl",
        help="regmix: more held-out text per domain that nothing chooses by; the search's CV Spearman and the "
        "check are also reported on it (one per domain the objective weights)",
    )
    p.add_argument(
        "--objective",
        default=None,
        help="regmix: mean (default) | DOMAIN | DOMAIN=w,DOMAIN=w (weighted loss)",
    )
    p.add_argument("--method", choices=("regmix", "doremi"), default="regmix")
    p.add_argument("--runs", type=int, default=None, help="regmix: proxy runs (default 32)")
    p.add_argument(
        "--corners",
        action="store_true",
        help="regmix: also train one proxy per source alone, after the --runs draws (one-domain objectives)",
    )
    p.add_argument(
        "--concentration",
        default=None,
        help="regmix: Dirichlet concentrations per source, one drawn per run, e.g. 0.1,0.3,1 (default "
        "0.3,1,3; lower: sparser draws, nearer the simplex's corners)",
    )
    p.add_argument(
        "--reference", default="natural", help="doremi: natural | uniform | NAME=w,... (both proxies' data)"
    )
    p.add_argument("--eta", type=float, default=1.0, help="doremi: step size of the domain-weight update")
    p.add_argument(
        "--smoothing", type=float, default=1e-3, help="doremi: mixing weight of uniform per update"
    )
    p.add_argument("--tokens-per-run", type=int, default=200_000)
    p.add_argument("--hidden-size", type=int, default=128, help="proxy hidden size (128: 1.05M parameters)")
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="proxy learning rate (default: 1.25e-3 x 128 / hidden size; wider proxies need a smaller one)",
    )
    p.add_argument(
        "--vocab", type=int, default=4096, help="compact proxy vocabulary (most frequent ids); 0 = full"
    )
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--min-share", default=None, help="one value or NAME=share,...")
    p.add_argument("--max-share", default=None, help="one value or NAME=share,...")
    p.add_argument("--max-epochs", default="4", help="one value or NAME=epochs,... (repeats per proxy run)")
    p.add_argument(
        "--max-doc-tokens",
        type=int,
        default=None,
        help="cut longer training documents into pieces before mixing (default: whole documents)",
    )
    p.add_argument(
        "--stratify",
        action="store_true",
        help="a proxy's part of an epoch of a source is spread evenly over its stored order",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="regmix: proxy processes in parallel (default 1)"
    )
    p.add_argument(
        "--target-tokens",
        type=int,
        default=None,
        help="regmix: the budget of the run the mixture is for; --max-epochs then holds there too",
    )
    p.add_argument(
        "--check-tokens",
        type=int,
        default=None,
        help="regmix: then train larger proxies this long on the recommendation, natural and uniform (and "
        "the objective's own weights when it is not the mean) (check_at_scale; writes check.json, adds it "
        "to the card)",
    )
    p.add_argument("--check-hidden-size", type=int, default=264, help="the larger proxies' hidden size")
    p.add_argument("--check-layers", type=int, default=4, help="the larger proxies' layers")
    p.add_argument("--check-seeds", type=int, default=2, help="seeds per mixture of the check")
    p.add_argument("--threads", type=int, default=1, help="torch threads per proxy process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", default=None, help="default: the embedded model's tokenizer")
    p.add_argument("--text-column", default="text")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_search)


def _named(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what}: expected NAME=PATH, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _value(spec: str | None, what: str) -> float | dict[str, float] | None:
    if spec is None:
        return None
    try:
        if "=" not in spec:
            return float(spec)
        return {k: float(v) for k, v in _named(spec.split(","), what).items()}
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _floats(spec: str | None, what: str) -> tuple[float, ...]:
    from hf_addons.data.mixture.space import CONCENTRATION

    if spec is None:
        return CONCENTRATION
    try:
        return tuple(float(v) for v in spec.split(","))
    except ValueError:
        raise ValueError(f"{what}: expected numbers separated by commas, got {spec!r}") from None


def _search(args: argparse.Namespace) -> int:
    from datasets import disable_progress_bars

    from hf_addons.cli.data_quality import _dataset
    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.search import search_mixture

    if args.method == "doremi":  # nothing the user gave is silently dropped
        given = [
            f"--{k.replace('_', '-')}"
            for k in (
                "objective",
                "runs",
                "workers",
                "check_tokens",
                "target_tokens",
                "concentration",
                "test",
            )
            if getattr(args, k) is not None
        ] + (["--corners"] if args.corners else [])
        if given:
            raise ValueError(f"{', '.join(given)} only apply to --method regmix (DoReMi trains two proxies)")
    elif (args.reference, args.eta, args.smoothing) != ("natural", 1.0, 1e-3):
        raise ValueError("--reference, --eta and --smoothing only apply to --method doremi")
    if args.check_tokens is not None and args.check_tokens < 10 * args.seq_len:
        raise ValueError(f"--check-tokens {args.check_tokens} is under 10 blocks of --seq-len {args.seq_len}")
    disable_progress_bars()
    train = {k: _dataset([p], args.text_column) for k, p in _named(args.source, "--source").items()}
    val = {k: _dataset([p], args.text_column) for k, p in _named(args.validation, "--validation").items()}
    test = {k: _dataset([p], args.text_column) for k, p in _named(args.test or [], "--test").items()}
    objective = args.objective or "mean"
    objective = _value(objective, "--objective") if "=" in objective else objective
    proxy = ProxyConfig(seq_len=args.seq_len, threads=args.threads, vocab=args.vocab or None).at_width(
        args.hidden_size, args.layers, learning_rate=args.learning_rate
    )
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    common = dict(
        proxy=proxy,
        tokenizer=args.tokenizer,
        text_column=args.text_column,
        min_share=_value(args.min_share, "--min-share"),
        max_share=_value(args.max_share, "--max-share"),
        max_epochs=_value(args.max_epochs, "--max-epochs"),
        max_doc_tokens=args.max_doc_tokens,
        stratify=args.stratify,
        cache_dir=out / "runs",
        seed=args.seed,
        tokens_per_run=args.tokens_per_run,
    )
    if args.method == "doremi":
        from hf_addons.data.mixture.doremi import doremi_weights

        reference = _value(args.reference, "--reference") if "=" in args.reference else args.reference
        res = doremi_weights(
            train, val, reference=reference, eta=args.eta, smoothing=args.smoothing, **common
        )
    else:
        res = search_mixture(
            train,
            val,
            objective=objective,
            num_runs=args.runs or 32,
            corners=args.corners,
            concentration=_floats(args.concentration, "--concentration"),
            workers=args.workers or 1,
            target_tokens=args.target_tokens,
            test=test,
            **common,
        )
    (out / "weights.json").write_text(json.dumps(res.weights, indent=2) + "\n")
    (out / "search.json").write_text(json.dumps(res.to_dict(), indent=2, default=str) + "\n")
    check = None
    if args.check_tokens is not None:
        from hf_addons.data.mixture.scale_check import check_at_scale

        big = proxy.at_width(args.check_hidden_size, args.check_layers)
        check = check_at_scale(res, big, args.check_tokens, args.check_seeds, workers=args.workers or 1)
        (out / "check.json").write_text(json.dumps(check.to_dict(), indent=2) + "\n")
        print(check.to_card(), file=sys.stderr)
    (out / "dataset-card.md").write_text(res.to_card(check) if check is not None else res.to_card())
    if len(res.space.names) >= 2:
        res.plot(out / "mixture-search.png")
    keys = ("final_excess",) if args.method == "doremi" else ("regressor", "cv_spearman")
    keys += ("cv_spearman_test",) if test else ()
    summary = {k: res.to_dict()[k] for k in ("weights", "natural", *keys)}
    print(json.dumps(summary, indent=2), file=sys.stderr)
    print(",".join(f"{k}={v:.4f}" for k, v in res.weights.items()))
    return 0
