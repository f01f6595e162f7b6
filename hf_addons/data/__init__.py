"""Pre-training data suite: every step is a batched function for ``dataset.map(step, batched=True)``.

See ``hf_addons.data.base`` for the step conventions. Public names resolve lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule of hf_addons.data (each part of the suite adds its own)
_LAZY: dict[str, str] = {
    "Step": "base",
    "FilterStep": "base",
    "Pipeline": "pipeline",
    "build_mixture": "mixture",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_addons.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hf_addons.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted(_LAZY)
