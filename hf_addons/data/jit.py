"""numba's ``njit`` for the data suite's kernels (licence alignment, dedup), cached on disk where numba finds a
writable folder.

numba keeps the compiled code beside the package (or in the user's cache folder), so only the first process
compiles. On a read-only install with no writable home, ``cache=True`` fails as the module is imported; the
kernels then compile in each process instead.
"""

from __future__ import annotations

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
