"""Causal-LM loading shared by the scoring steps (perplexity, the educational judge): device and dtype
defaults, model/tokenizer from a name or objects, and the lazy state that keeps models out of pickles."""

from __future__ import annotations

import os
from typing import Any

from hf_addons.data.base import Step
from hf_addons.hardware import cpu_has_fast_bf16


def resolve_device_dtype(device: str | None, dtype: Any) -> tuple[str, Any]:
    """Device default CUDA else CPU. dtype default: bf16 on GPU and on CPUs with native bf16 matmul
    (:func:`cpu_has_fast_bf16`), fp32 on other CPUs; ``"bf16"``/``"fp32"`` pick one explicitly.

    Args:
        device: ``"cpu"``, ``"cuda"``, ... (None: CUDA when present).
        dtype: a torch dtype, ``"auto"``/None (bf16 on GPUs and CPUs with native bf16 matmul, else fp32) or one of
            ``"bf16"``, ``"bfloat16"``, ``"fp32"``, ``"float32"``.

    Examples:

    ```python
    >>> resolve_device_dtype("cpu", "fp32")
    ('cpu', torch.float32)
    ```
    """
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None or dtype == "auto":
        fast = str(device).startswith("cuda") or (str(device) == "cpu" and cpu_has_fast_bf16())
        dtype = torch.bfloat16 if fast else torch.float32
    elif isinstance(dtype, str):
        names = {
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
            "fp32": torch.float32,
            "float32": torch.float32,
        }
        if dtype not in names:
            raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(names)}")
        dtype = names[dtype]
    return str(device), dtype


def load_lm(
    model: Any, tokenizer: Any, device: str | None, dtype: Any, default_dtype: Any = "auto"
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a name/path/None (the default model) or from objects already loaded.

    Args:
        model: a causal LM object, a name or path, or None for the embedded default model.
        tokenizer: its tokenizer, or None for the model's own.
        device: see :func:`resolve_device_dtype`.
        dtype: the dtype to run in; None: ``default_dtype`` for a model loaded here, while a model object
            passed in keeps its own dtype (a cast is in place, so it is never done silently).
        default_dtype: what None means for a model loaded here (``"auto"``, ``"float32"``, ...).

    Examples:

    ```python
    >>> lm, tok = load_lm(None, None, "cpu", None, default_dtype="float32")  # doctest: +SKIP
    ```
    """
    from hf_addons.models import load_model, load_tokenizer

    keep_dtype = dtype is None and not (model is None or isinstance(model, (str, os.PathLike)))
    device, dtype = resolve_device_dtype(device, default_dtype if dtype is None else dtype)
    if model is None or isinstance(model, (str, os.PathLike)):
        lm, tok = load_model(model, device=device, dtype=dtype)
        return lm, tokenizer if tokenizer is not None else tok
    if tokenizer is None:
        tokenizer = load_tokenizer(getattr(model.config, "name_or_path", None) or None)
    if keep_dtype:
        return model.to(device=device).eval(), tokenizer
    return model.to(device=device, dtype=dtype).eval(), tokenizer


class LazyState:
    """Loaded models live in ``_``-prefixed attributes and are dropped when pickled: workers reload them.

    Examples:

    ```python
    >>> class Holder(LazyState):
    ...     def __init__(self):
    ...         self.name, self._model = "x", object()
    >>> Holder().__getstate__()  # what pickle sends to a worker
    {'name': 'x', '_model': None}
    ```
    """

    def __getstate__(self) -> dict[str, Any]:
        return {k: None if k.startswith("_") else v for k, v in vars(self).items()}


class LMStep(LazyState, Step):
    """A step that runs a causal LM given as ``model``/``tokenizer``/``device``/``dtype``, loaded on first use.

    Examples:

    ```python
    >>> class Tokens(LMStep):
    ...     name = "tokens"
    ...     def __init__(self, model=None, tokenizer=None, device="cpu", dtype=None):
    ...         self.model, self.tokenizer, self.device, self.dtype = model, tokenizer, device, dtype
    ...     def process(self, batch):
    ...         model, tok = self._load()
    ...         return {"tokens": [len(tok(t).input_ids) for t in batch["text"]]}
    ```
    """

    model: Any
    tokenizer: Any
    device: str | None
    dtype: Any
    _lm: tuple[Any, Any] | None = None
    #: what ``dtype=None`` means for a model this step loads by name (a model object keeps its own dtype)
    default_dtype: Any = "auto"

    def _load(self) -> tuple[Any, Any]:
        if self._lm is None:
            self._lm = load_lm(self.model, self.tokenizer, self.device, self.dtype, self.default_dtype)
        return self._lm
