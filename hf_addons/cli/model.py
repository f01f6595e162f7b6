"""``hf-addons model``: where the default model comes from and how long loading takes."""

from __future__ import annotations

import argparse
import json
import time


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION")
    p = sub.add_parser(
        "info", help="Resolve a model (default: the embedded SmolLM2-135M-Instruct), load it, print JSON."
    )
    p.add_argument("--model", default=None, help="Hub id or local path; omitted: the embedded default model")
    p.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    from hf_addons.models import load_model, resolve

    t0 = time.perf_counter()
    path = resolve(args.model)
    t1 = time.perf_counter()
    model, tok = load_model(path)
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "model": args.model or "default",
                "path": path,
                "resolve_s": round(t1 - t0, 3),
                "load_s": round(t2 - t1, 3),
                "parameters": sum(p.numel() for p in model.parameters()),
                "vocab": len(tok),
                "architecture": model.config.architectures,
            },
            indent=2,
        )
    )
    return 0
