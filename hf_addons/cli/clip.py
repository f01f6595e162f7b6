"""``hf-addons clip``: filled in by the clip capability (see its issue)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="clip_command", metavar="ACTION")
    for action in "check,bench".split(","):
        p = sub.add_parser(action, help=f"clip {action} (being implemented)")
        p.set_defaults(func=_todo)


def _todo(args: argparse.Namespace) -> int:
    raise RuntimeError("this subcommand is not implemented yet")
