"""hf-addons: tools for training, shipping and auditing language models, on top of the Hugging Face stack.

Importing the package is cheap: the public names below are resolved on first use, so ``import hf_addons``
does not import torch or transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hf_addons._extras import install_hook as _install_hook

__version__ = "0.1.0"
# a missing optional dependency names the extra to install (`pip install "hf-addons[data]"`) in one line
_install_hook()

# public name -> submodule that defines it
_LAZY: dict[str, str] = {
    # foundation
    "load_model": "hf_addons.models",
    "load_tokenizer": "hf_addons.models",
    # watermark
    "WatermarkConfig": "hf_addons.watermark",
    "WatermarkLogitsProcessor": "hf_addons.watermark",
    "WatermarkDetector": "hf_addons.watermark",
    # red-teaming
    "GCG": "hf_addons.redteam",
    "GCGConfig": "hf_addons.redteam",
    "GCGCallback": "hf_addons.redteam",
    # interpretability
    "SAEConfig": "hf_addons.interp",
    "SparseAutoencoder": "hf_addons.interp",
    # contrastive
    "ClipLoss": "hf_addons.contrastive",
    "SigLipLoss": "hf_addons.contrastive",
    # data
    "Pipeline": "hf_addons.data",
    "build_mixture": "hf_addons.data",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_addons' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from hf_addons.contrastive import ClipLoss, SigLipLoss  # noqa: F401
    from hf_addons.data import Pipeline, build_mixture  # noqa: F401
    from hf_addons.interp import SAEConfig, SparseAutoencoder  # noqa: F401
    from hf_addons.models import load_model, load_tokenizer  # noqa: F401
    from hf_addons.redteam import GCG, GCGCallback, GCGConfig  # noqa: F401
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector, WatermarkLogitsProcessor  # noqa: F401
