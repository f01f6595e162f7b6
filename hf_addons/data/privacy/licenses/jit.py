"""The growable arrays the licence classifier's kernels share."""

from __future__ import annotations

import numpy as np

from hf_addons.data.jit import compiled


@compiled
def grow(arr: np.ndarray, need: int) -> np.ndarray:  # pragma: no cover - compiled
    """``arr`` (1-d) with room for ``need`` items (doubled), its items kept."""
    if need <= len(arr):
        return arr
    new = np.empty(max(need, 2 * len(arr)), dtype=arr.dtype)
    for i in range(len(arr)):  # element loops: numba compiles array slice assignment slowly (~2 s)
        new[i] = arr[i]
    return new


@compiled
def grow_rows(arr: np.ndarray, need: int) -> np.ndarray:  # pragma: no cover - compiled
    """``arr`` (2-d) with room for ``need`` rows (doubled), its rows kept."""
    if need <= len(arr):
        return arr
    new = np.empty((max(need, 2 * len(arr)), arr.shape[1]), dtype=arr.dtype)
    for i in range(len(arr)):
        for j in range(arr.shape[1]):
            new[i, j] = arr[i, j]
    return new
