"""``hf-addons`` console script: one subcommand per capability.

Each subcommand lives in its own module here and only imports argparse at parse time; the heavy libraries
are imported inside the command that runs, so ``hf-addons --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module under hf_addons.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "watermark": ("watermark", "Generate watermarked text and detect watermarks (Kirchenbauer et al. 2023)."),
    "gcg": ("gcg", "Red-team a chat model with GCG adversarial suffixes (Zou et al. 2023)."),
    "data": (
        "data",
        "Pre-training data steps: WARC/HTML->Markdown, filters, dedup, PII, licenses, perplexity, mixtures.",
    ),
    "sae": ("sae", "Train, evaluate and inspect sparse autoencoders on a causal LM's activations."),
    "clip": ("clip", "Memory-lean exact CLIP/SigLIP contrastive loss: check and benchmark."),
    "demo": ("demo", "Start the local demo app (all Spaces as tabs) on the embedded default model."),
    "spaces": ("spaces", "Build a self-contained, deployable Space folder (app, requirements, wheel)."),
    "model": ("model", "Resolve, convert and cache the embedded default model (SmolLM2-135M-Instruct)."),
}


def build_parser() -> argparse.ArgumentParser:
    from hf_addons import __version__

    parser = argparse.ArgumentParser(
        prog="hf-addons",
        description="Tools for people who train, ship and audit language models, on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"hf-addons {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"hf_addons.cli.{module}").configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        # a group without its action: show the group's help rather than nothing
        target = parser
        if args.command:
            target = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
        target.print_help()
        return 2 if args.command is None else 0
    from hf_addons._extras import MissingExtraError

    try:
        return int(func(args) or 0)
    except MissingExtraError as exc:  # an optional dependency is missing: the one line naming the extra
        if args.debug:
            raise
        print(f"hf-addons {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hf-addons {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is None or args.debug:
            raise
        # one line naming the problem, exit 2; --debug shows the traceback
        print(f"hf-addons {args.command}: error: {message}", file=sys.stderr)
        return 2


def user_error_message(exc: BaseException) -> str | None:
    """One line for an error caused by the user's input (files, paths, names, options), else None.

    Wrappers that hide the cause (``datasets``' ``DatasetGenerationError``) are unwrapped to it.
    """
    from hf_addons.errors import root_cause

    if type(exc).__name__ == "DatasetGenerationError":
        exc = root_cause(exc)
    if isinstance(exc, (ValueError, KeyError, OSError, EOFError, RuntimeError, ImportError, StopIteration)):
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        text = " ".join(text.split()) or type(exc).__name__
        return text if len(text) <= 500 else text[:497] + "..."
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
