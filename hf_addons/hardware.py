"""What this CPU can do fast, read once: the defaults that pick bf16 on CPU (perplexity scoring, SAE training)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The ``flags`` words of ``/proc/cpuinfo`` (empty where it cannot be read, e.g. not Linux)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


def cpu_has_amx() -> bool:
    """Intel AMX tiles (Sapphire Rapids and later): a bf16 matmul is several times faster than fp32 there."""
    return "amx_bf16" in cpu_flags()


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 matrices natively (AMX-BF16 or AVX512-BF16, and oneDNN agrees).
    There a bf16 matmul runs several times faster than fp32; elsewhere bf16 on CPU is emulated and slower."""
    if not cpu_flags() & {"amx_bf16", "avx512_bf16"}:
        return False
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
