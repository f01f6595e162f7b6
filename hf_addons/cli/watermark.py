"""``hf-addons watermark generate|detect``: watermarked generation and detection, JSON lines out."""

from __future__ import annotations

import argparse
import os

KEY_ENV = "HF_ADDONS_WATERMARK_KEY"


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="directory or JSON file saved by WatermarkConfig.save_pretrained")
    p.add_argument("--key", help=f"hashing key, int or passphrase (default: ${KEY_ENV}, else the config's)")
    p.add_argument("--scheme", choices=["lefthash", "minhash", "selfhash", "unigram"], help="seeding scheme")
    p.add_argument("--context-width", type=int, help="tokens of context the seed uses")
    p.add_argument("--gamma", type=float, help="green fraction of the vocabulary")
    p.add_argument("--delta", type=float, help="logit bias of green tokens")
    p.add_argument("--out", default="-", help="output JSONL file (default: stdout)")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="watermark_command", metavar="ACTION")
    g = sub.add_parser("generate", help="generate watermarked continuations of prompts (JSONL out)")
    g.add_argument(
        "inputs", nargs="*", help="prompt files (.txt = one prompt, .jsonl = 'text' per line); stdin if none"
    )
    g.add_argument("--prompt", action="append", help="a prompt (repeatable); replaces the input files")
    g.add_argument(
        "--model", default=None, help="model name or path (default: the embedded SmolLM2-135M-Instruct)"
    )
    g.add_argument("--max-new-tokens", type=int, default=200)
    g.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    fmt = g.add_mutually_exclusive_group()
    fmt.add_argument(
        "--chat",
        action="store_true",
        help="wrap prompts in the tokenizer's chat template (the default when the tokenizer has one)",
    )
    fmt.add_argument("--raw", action="store_true", help="feed prompts as plain text, no chat template")
    g.add_argument("--no-watermark", action="store_true", help="plain generation, for comparison")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--batch-size", type=int, default=8)
    _add_config_args(g)
    g.set_defaults(func=_generate)
    g.epilog = 'Exit status 3 when a prompt got an empty continuation (its row has "empty": true).'

    d = sub.add_parser("detect", help="detect the watermark in texts (JSONL out, one row per text)")
    d.add_argument(
        "inputs", nargs="*", help="text files (.txt = one text, .jsonl = 'text' per line); stdin if none"
    )
    d.add_argument(
        "--tokenizer", default="default", help="tokenizer name or path (default: the embedded one)"
    )
    d.add_argument("--z-threshold", type=float, help="z-score above which a text is flagged (default 4)")
    d.add_argument(
        "--fpr", type=float, help="flag a text when its exact p-value is <= FPR instead (e.g. 1e-4)"
    )
    d.add_argument("--windowed", action="store_true", help="also scan windows for a watermarked span")
    d.add_argument(
        "--per-token", action="store_true", help="include per-token green mask, tokens and offsets"
    )
    _add_config_args(d)
    d.set_defaults(func=_detect)


def _parse_key(key: str) -> int | str:
    return int(key) if key.isdigit() else key


def _config(args: argparse.Namespace):
    from hf_addons.watermark import WatermarkConfig

    overrides = {
        k: v
        for k, v in dict(
            seeding_scheme=args.scheme, context_width=args.context_width, gamma=args.gamma, delta=args.delta
        ).items()
        if v is not None
    }
    key = args.key or os.environ.get(KEY_ENV)
    if key:
        overrides["hashing_key"] = _parse_key(key)
    if args.config:
        return WatermarkConfig.from_pretrained(args.config, **overrides)
    return WatermarkConfig(**overrides)


def use_chat_template(tokenizer, chat: bool = False, raw: bool = False) -> bool:
    """Instruct models answer prompts only inside their chat template: use it when the tokenizer has one."""
    has_template = getattr(tokenizer, "chat_template", None) is not None
    if chat and not has_template:
        raise ValueError("--chat given but the tokenizer has no chat template (use --raw)")
    return has_template and not raw


def _generate(args: argparse.Namespace) -> int:
    import sys

    from hf_addons.cli._util import read_texts, write_jsonl
    from hf_addons.models import load_model
    from hf_addons.watermark import generate

    prompts = args.prompt or read_texts(args.inputs)
    if not any(p.strip() for p in prompts):
        raise ValueError("no prompt given (pass --prompt, input files or stdin)")
    config = None if args.no_watermark else _config(args)
    model, tokenizer = load_model(args.model)
    chat = use_chat_template(tokenizer, chat=args.chat, raw=args.raw)
    out = generate(
        model,
        tokenizer,
        prompts,
        config,
        max_new_tokens=args.max_new_tokens,
        do_sample=not args.greedy,
        chat=chat,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    meta = config.to_dict() if config is not None else None
    rows = [
        {"prompt": p, "text": t, "num_new_tokens": len(ids), "chat_template": chat, "empty": not t.strip()}
        | {"watermark": meta}
        for p, t, ids in zip(prompts, out["texts"], out["token_ids"])
    ]
    write_jsonl(rows, args.out)
    empty = [i for i, row in enumerate(rows) if row["empty"]]
    if empty:
        hint = (
            ""
            if chat
            else " (the prompt was fed raw: an instruct model may answer only inside its chat template)"
        )
        print(
            f"hf-addons watermark: warning: empty generation for prompt(s) {empty}{hint}",
            file=sys.stderr,
        )
        return 3
    return 0


def _detect(args: argparse.Namespace) -> int:
    from hf_addons.cli._util import read_texts, write_jsonl
    from hf_addons.watermark import WatermarkDetector

    texts = read_texts(args.inputs)
    detector = WatermarkDetector(
        _config(args), tokenizer=args.tokenizer, z_threshold=args.z_threshold, fpr=args.fpr
    )
    results = detector.detect(texts, windowed=args.windowed)
    write_jsonl(
        ({"index": i, **r.to_dict(per_token=args.per_token)} for i, r in enumerate(results)), args.out
    )
    return 0
