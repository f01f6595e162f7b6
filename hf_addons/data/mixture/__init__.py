"""Mixtures: weighted, temperature-sampled interleaving of sources by token counts.

``hf_addons.data.mixture`` was a module before the folders by kind; its names still resolve here (from
``mixture``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.mixture.mixture`` instead.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.mixture"), name)
