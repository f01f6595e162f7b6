"""Deduplication: exact hashes and MinHash-LSH near-duplicates, global over all shards.

``hf_addons.data.dedup`` was a module before the folders by kind; its names still resolve here (from
``minhash``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.dedup.minhash`` instead.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.minhash"), name)
