"""numba's ``njit`` for the licence classifier's kernels, cached on disk where numba finds a writable folder,
and the growable arrays they share.

Compiling them takes ~8 s, so numba keeps the result beside the package (or in the user's cache folder). On a
read-only install with no writable home, ``cache=True`` fails as the module is imported; the kernels then
compile in each process instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def compiled(fn=None, **options):
    """``@compiled`` or ``@compiled(inline="always")``: ``njit(cache=True, nogil=True)``, uncached when no
    cache folder is writable."""

    def wrap(f):
        try:
            return njit(cache=True, nogil=True, **options)(f)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return njit(nogil=True, **options)(f)

    return wrap(fn) if fn is not None else wrap


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
