"""``hf-addons watermark``: filled in by the watermark capability (see its issue)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="watermark_command", metavar="ACTION")
    for action in "generate,detect".split(","):
        p = sub.add_parser(action, help=f"watermark {action} (being implemented)")
        p.set_defaults(func=_todo)


def _todo(args: argparse.Namespace) -> int:
    raise RuntimeError("this subcommand is not implemented yet")
