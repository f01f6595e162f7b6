"""Actions of ``hf-addons data`` owned by this part of the data suite."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    for action in "prepare".split(","):
        p = sub.add_parser(action, help=f"data {action} (being implemented)")
        p.set_defaults(func=_todo)


def _todo(args: argparse.Namespace) -> int:
    raise RuntimeError("this subcommand is not implemented yet")
