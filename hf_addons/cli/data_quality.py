"""``hf-addons data perplexity|edu|mixture``: perplexity buckets, educational scoring, token-true mixtures.

Inputs are JSONL files (one document per line, text in ``--text-column``); other fields pass through. Outputs
are JSONL with the step's columns added; a JSON summary goes to stderr (or ``--report``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "perplexity",
        help="Score documents' perplexity with a causal LM; filter by threshold or whole-data buckets.",
        description="Adds perplexity, perplexity_logprob, perplexity_tokens, perplexity_error; with --keep or "
        "--max-perplexity also perplexity_bucket, perplexity_keep, perplexity_reason (buckets over all rows).",
    )
    _io_args(p)
    p.add_argument("--model", default=None, help="model name/path (default: the embedded SmolLM2-135M)")
    p.add_argument("--window", type=int, default=None, help="tokens per forward pass (long docs slide)")
    p.add_argument("--max-tokens", type=int, default=None, help="score only the first N tokens of each doc")
    p.add_argument("--max-perplexity", type=float, default=None, help="reject documents above this")
    p.add_argument("--keep", default=None, help="buckets to keep, e.g. head,middle (CCNet terciles)")
    p.add_argument("--quantiles", default="0.3333,0.6667", help="bucket edges as quantiles of all scores")
    p.add_argument(
        "--dtype",
        default=None,
        choices=["bf16", "fp32"],
        help="default bf16 on GPU and on CPUs with AMX/AVX512-BF16, else fp32",
    )
    p.add_argument(
        "--unit",
        default="document",
        choices=["document", "line"],
        help="line: score each line alone and pool its tokens per document (CCNet)",
    )
    p.set_defaults(func=_perplexity)

    p = sub.add_parser(
        "edu",
        help="Educational quality: annotate with an LLM judge, train the classifier, score a corpus.",
        description="annotate: adds edu_judge_score (0-5). train: fits an EduClassifier on those labels and "
        "saves it to --out (a directory). score: adds edu_score/edu_keep with a trained classifier.",
    )
    p.add_argument("stage", choices=["annotate", "train", "score"])
    _io_args(p)
    p.add_argument("--model", default=None, help="annotate: judge model (default: the embedded model)")
    p.add_argument("--limit", type=int, default=None, help="annotate only the first N documents")
    p.add_argument("--embedder", default="minilm", help="train: minilm | lm | lm:<model>")
    p.add_argument("--label-column", default="edu_judge_score", help="train: the label column")
    p.add_argument("--eval-fraction", type=float, default=0.2, help="train: held-out share for agreement")
    p.add_argument("--classifier", default=None, help="score: directory of a trained EduClassifier")
    p.add_argument("--threshold", type=float, default=None, help="score: keep edu_score >= this")
    p.set_defaults(func=_edu)

    p = sub.add_parser(
        "mixture",
        help="Mix sources to token-share targets (interleave_datasets with measured token lengths).",
        description="Example: --source code=code.jsonl --source web=web.jsonl --weights code=0.3,web=0.7",
    )
    p.add_argument("--source", action="append", required=True, metavar="NAME=PATH.jsonl")
    p.add_argument("--weights", default=None, help="NAME=share,... summing to 1")
    p.add_argument("--alpha", type=float, default=None, help="temperature: shares ∝ size**alpha")
    p.add_argument("--unit", default="tokens", choices=["tokens", "docs"])
    p.add_argument("--tokenizer", default=None, help="default model's tokenizer, 'whitespace' or a path")
    p.add_argument("--max-epochs", type=float, default=1.0, help="how often a source may repeat")
    p.add_argument("--num-docs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-column", default="text")
    p.add_argument("--out", default="-", help="mixed JSONL (default stdout)")
    p.add_argument("--report", default=None, help="write the realised-share report here (JSON)")
    p.set_defaults(func=_mixture)


def _io_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="JSONL files")
    p.add_argument("--text-column", default="text")
    p.add_argument("--out", default="-", help="output JSONL file or directory (default stdout)")
    p.add_argument("--drop", action="store_true", help="write only kept rows (default: all, with decisions)")
    p.add_argument("--batch-size", type=int, default=64)


def _read_jsonl(paths: list[str]) -> list[dict[str, Any]]:
    from pathlib import Path

    rows: list[dict[str, Any]] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"input file not found: {p}")
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{p}:{i + 1}: not valid JSON ({exc.msg})") from None
    if not rows:
        raise ValueError(f"no rows in {paths}")
    return rows


def _dataset(paths: list[str], text_column: str) -> Any:
    from datasets import Dataset

    rows = _read_jsonl(paths)
    missing = sum(text_column not in r for r in rows)
    if missing:
        raise ValueError(f"{missing} of {len(rows)} rows have no {text_column!r} field")
    return Dataset.from_list(rows)


def _write(ds: Any, out: str, keep_column: str | None, drop: bool) -> None:
    from hf_addons.cli._util import write_jsonl

    if drop and keep_column:
        ds = ds.filter(lambda b: b[keep_column], batched=True)
    write_jsonl(ds, out)


def _summary(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, indent=2, default=str), file=sys.stderr)


def _counts(values: list[Any]) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(str(v) for v in values))


def _perplexity(args: argparse.Namespace) -> int:
    from datasets import disable_progress_bars

    from hf_addons.data.scoring.perplexity import PerplexityFilter, PerplexityScorer

    disable_progress_bars()
    ds = _dataset(args.inputs, args.text_column)
    scorer = PerplexityScorer(
        args.model,
        text_column=args.text_column,
        window=args.window,
        max_tokens=args.max_tokens,
        dtype=args.dtype,
        unit=args.unit,
    )
    ds = ds.map(scorer, batched=True, batch_size=args.batch_size)
    summary: dict[str, Any] = {"rows": len(ds), "errors": _counts(ds["perplexity_error"])}
    keep_column = None
    if args.keep or args.max_perplexity is not None:
        kw: dict[str, Any] = {"max_perplexity": args.max_perplexity}
        if args.keep:
            quantiles = [float(q) for q in args.quantiles.split(",")]
            filt = PerplexityFilter.from_dataset(ds, quantiles=quantiles, keep=args.keep.split(","), **kw)
            summary["cutoffs"] = filt.cutoffs
        else:
            filt = PerplexityFilter(**kw)
        ds = ds.map(filt, batched=True, batch_size=1000)
        keep_column = filt.keep_column
        summary["reasons"] = _counts(ds[filt.reason_column])
        summary["kept"] = int(sum(ds[keep_column]))
    _write(ds, args.out, keep_column, args.drop)
    _summary(summary)
    return 0


def _edu(args: argparse.Namespace) -> int:
    from datasets import disable_progress_bars

    disable_progress_bars()
    ds = _dataset(args.inputs, args.text_column)
    if args.stage == "annotate":
        from hf_addons.data.scoring.edu import EduJudge

        if args.limit:
            ds = ds.select(range(min(args.limit, len(ds))))
        ds = ds.map(
            EduJudge(args.model, text_column=args.text_column), batched=True, batch_size=args.batch_size
        )
        _write(ds, args.out, None, False)
        _summary({"rows": len(ds), "scores": _counts(ds["edu_judge_score"])})
        return 0
    if args.stage == "train":
        from hf_addons.data.scoring.edu import train_edu_classifier

        if args.out == "-":
            raise ValueError("edu train needs --out DIR to save the classifier")
        if args.label_column not in ds.column_names:
            raise ValueError(f"no label column {args.label_column!r}; columns: {ds.column_names}")
        clf, report = train_edu_classifier(
            ds[args.text_column], ds[args.label_column], args.embedder, eval_fraction=args.eval_fraction
        )
        clf.save_pretrained(args.out)
        from pathlib import Path

        (Path(args.out) / "README.md").write_text(clf.model_card(), encoding="utf-8")
        _summary({"saved": args.out, **{k: v for k, v in report.items() if k != "train"}})
        return 0
    from hf_addons.data.scoring.edu import EduScorer

    if not args.classifier:
        raise ValueError("edu score needs --classifier DIR (from `hf-addons data edu train`)")
    scorer = EduScorer(args.classifier, threshold=args.threshold, text_column=args.text_column)
    ds = ds.map(scorer, batched=True, batch_size=args.batch_size)
    _write(ds, args.out, scorer.keep_column, args.drop)
    _summary({"rows": len(ds), "kept": int(sum(ds["edu_keep"])), "reasons": _counts(ds["edu_reason"])})
    return 0


def _pairs(text: str, what: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValueError(f"{what}: expected NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _mixture(args: argparse.Namespace) -> int:
    from datasets import disable_progress_bars

    from hf_addons.data.mixture.mixture import build_mixture

    disable_progress_bars()
    sources = {}
    for spec in args.source:
        name, path = next(iter(_pairs(spec, "--source").items()))
        sources[name] = _dataset([path], args.text_column)
    weights = None
    if args.weights:
        try:
            weights = {k: float(v) for k, v in _pairs(args.weights, "--weights").items()}
        except ValueError as exc:
            raise ValueError(f"--weights: {exc}") from None
    try:
        mix = build_mixture(
            sources,
            weights,
            unit=args.unit,
            alpha=args.alpha,
            tokenizer=args.tokenizer,
            text_column=args.text_column,
            max_epochs=args.max_epochs,
            num_docs=args.num_docs,
            seed=args.seed,
        )
    except TypeError as exc:  # e.g. a non-text column: a user error, not a crash
        raise ValueError(str(exc)) from None
    _write(mix.dataset, args.out, None, False)
    report = mix.report()
    if args.report:
        with open(args.report, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    _summary(report)
    return 0
