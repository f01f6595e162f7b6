"""HTML to Markdown extraction (trafilatura with boilerplate pruning).

``hf_addons.data.extract`` was a module before the folders by kind; its names still resolve here (from
``html``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.extract.html`` instead.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.html"), name)
