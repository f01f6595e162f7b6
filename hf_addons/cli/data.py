"""``hf-addons data``: one group for the data suite; each part registers its own actions.

``data_prepare`` (WARC/HTML -> Markdown, rules, dedup, pipeline), ``data_privacy`` (secrets, licenses, PII),
``data_quality`` (perplexity, educational scoring, mixtures) each expose ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

PARTS = ("data_prepare", "data_privacy", "data_quality", "data_mixture_search")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    for part in PARTS:
        importlib.import_module(f"hf_addons.cli.{part}").register(sub)
