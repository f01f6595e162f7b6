"""A prompt prefix run once and reused as a KV cache across batches (GCG's fixed prompt, the edu judge's rubric).

transformers 5.2x renamed the forward's ``past_key_values`` to ``cache``; these helpers take either, build a
fresh ``DynamicCache`` per batch from the prefix tensors (the model appends to the cache it is given, so the
prefix itself is never mutated) and read the cache back from a model output.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

KV = list[tuple["Tensor", "Tensor"]]


@functools.lru_cache(maxsize=64)
def _cache_kwarg_for(forward_cls: type) -> str:
    params = inspect.signature(forward_cls.forward).parameters
    return "past_key_values" if "past_key_values" in params and "cache" not in params else "cache"


def cache_kwarg(model: Any) -> str:
    """``cache`` on transformers >= 5.2x, ``past_key_values`` before (PEFT wrappers pass either through)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _cache_kwarg_for(type(base))


def output_cache(out: Any) -> Any:
    """The cache a forward returned, under either name."""
    return out.cache if "cache" in getattr(out, "__dataclass_fields__", {}) else out.past_key_values


def cache_tensors(cache: Any, length: int, hint: str = "") -> KV:
    """Each layer's keys and values of the first ``length`` positions, detached.

    Args:
        cache: the cache a forward returned.
        length: the positions to keep.
        hint: appended to the error when the model returned no transformers ``Cache`` (how to turn caching off).
    """
    if cache is None or not hasattr(cache, "layers"):
        raise ValueError(
            "the model did not return a transformers Cache (past_key_values); a prefix cache needs one. "
            + hint
        )
    return [
        (layer.keys[:, :, :length].detach(), layer.values[:, :, :length].detach()) for layer in cache.layers
    ]


def batched_cache(kv: KV | None, length: int, batch: int, config: Any) -> Any:
    """A fresh ``DynamicCache`` holding the first ``length`` cached positions, expanded to ``batch`` rows
    (a view: no copy until the model appends)."""
    if not kv or length == 0:
        return None
    from transformers import DynamicCache

    data = [
        (k[:, :, :length].expand(batch, -1, -1, -1), v[:, :, :length].expand(batch, -1, -1, -1))
        for k, v in kv
    ]
    try:
        return DynamicCache(ddp_cache_data=data, config=config)
    except (TypeError, ValueError, KeyError, AttributeError):  # configs without layer types
        return DynamicCache(ddp_cache_data=data)
