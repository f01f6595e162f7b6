"""``hf-addons gcg``: filled in by the gcg capability (see its issue)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gcg_command", metavar="ACTION")
    for action in "run".split(","):
        p = sub.add_parser(action, help=f"gcg {action} (being implemented)")
        p.set_defaults(func=_todo)


def _todo(args: argparse.Namespace) -> int:
    raise RuntimeError("this subcommand is not implemented yet")
