"""The windowed scan's null distribution: how small the best window's p-value gets in unwatermarked text.

WinMax tests many overlapping windows of a text and keeps the smallest exact p-value. Multiplying it by the
number of windows (Bonferroni) is valid but counts neighbours that share all but one token as independent
tests: under the null, a 150-token text's ~1,500 windows act like about 90. Without a watermark, every scored
token is green with probability ``gamma``, independently, so the smallest window p-value of a text of ``m``
scored tokens has one null distribution for each ``(m, gamma, min_window)``. It is simulated here once
(``N_SIMULATIONS`` texts, fixed seed, cached in memory and on disk) and the calibrated p-value is the
Monte-Carlo tail ``(1 + #{simulations at or below}) / (N + 1)``. Below the simulation's resolution the
Hunter-Worsley bound takes over: per window length, the first window plus every step where the count first
reaches the threshold (an up-crossing, exact for binomial windows), summed over lengths. The result is the
smaller of the two: both are upper estimates of the true tail, so either alone keeps the size.

Scans are over scored tokens only (a window of ``w`` holds exactly ``w`` of them), so a row with gaps
(repeats counted once, ignored tokens) has the null of its ``m`` scored tokens. Tables are simulated for a
ladder of lengths and a row uses the next rung up: a longer text tests a superset of windows, so its null is
stochastically smaller and the p-value can only grow (by < 5%).
"""

from __future__ import annotations

import hashlib
import math
import os
from functools import lru_cache

import numpy as np
import torch

from hf_addons.models import cache_dir
from hf_addons.watermark.detector import binomial_p_value

WINDOW_GROWTH = 1.15  # window lengths: min_window * 1.15**k below the text's length
N_SIMULATIONS = 1 << 16  # Monte-Carlo resolution 1/(N + 1) = 1.5e-5
LADDER_GROWTH = 1.05  # rows of m scored tokens use the table of the next rung >= m
MAX_SIMULATED = 8192  # longer texts use the Hunter-Worsley bound alone
_VERSION = 1  # bump when the simulation changes: the disk cache is keyed by it


def window_lengths(m: int, min_window: int) -> list[int]:
    """The scan's window lengths for a text of ``m`` scored tokens: ``min_window * 1.15**k`` below ``m``."""
    out, k = [], 0
    while (w := round(min_window * WINDOW_GROWTH**k)) < m:
        out.append(w)
        k += 1
    return sorted(set(out))


def ladder_rungs(m: np.ndarray, min_window: int) -> np.ndarray:
    """The simulated length each row of ``m`` scored tokens is calibrated at: the next rung ``>= m``."""
    m = np.maximum(np.asarray(m, dtype=np.int64), 1)
    k = np.maximum(np.floor(np.log(m / min_window) / math.log(LADDER_GROWTH)) - 1, 0)
    rungs = np.ceil(min_window * LADDER_GROWTH ** (k[..., None] + np.arange(4))).astype(np.int64)
    return np.where(rungs >= m[..., None], rungs, np.iinfo(np.int64).max).min(-1)


def simulate_min_p(
    m: int, gamma: float, min_window: int, n: int = N_SIMULATIONS, seed: int = 0
) -> np.ndarray:
    """Sorted smallest window p-values of ``n`` null texts of ``m`` scored tokens (shorter windows only)."""
    lengths = window_lengths(m, min_window)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + m)
    dtype = torch.int16 if m < 2**15 else torch.int32
    chunk = max(256, (1 << 24) // max(m, 1))
    out = []
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        green = torch.rand(rows, m, generator=gen) < gamma
        cs = torch.nn.functional.pad(green.to(dtype).cumsum(1, dtype=dtype), (1, 0))
        best = np.ones(rows)
        for w in lengths:
            gmax = (cs[:, w:] - cs[:, :-w]).amax(1).numpy()
            best = np.minimum(best, binomial_p_value(gmax, w, gamma))
        out.append(best)
    return np.sort(np.concatenate(out)) if out else np.ones(0)


@lru_cache(maxsize=128)  # 512 KiB each: every rung up to MAX_SIMULATED fits
def null_table(m: int, gamma: float, min_window: int) -> np.ndarray:
    """``simulate_min_p`` for one ladder rung, cached in memory and in ``$HF_ADDONS_CACHE/winmax`` (atomic
    writes; an unreadable file is simulated again)."""
    key = hashlib.sha256(repr((_VERSION, m, float(gamma), min_window, N_SIMULATIONS)).encode()).hexdigest()[
        :16
    ]
    path = cache_dir() / "winmax" / f"null-{m}-{key}.npy"
    try:
        table = np.load(path)
        if table.shape == (N_SIMULATIONS,):
            return table
    except (OSError, ValueError):
        pass
    table = simulate_min_p(m, gamma, min_window)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, table)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home still gets the in-memory table
    return table


def hunter_worsley(p: np.ndarray, m: np.ndarray, gamma: float, min_window: int) -> np.ndarray:
    """Upper bound on ``P(some shorter window of a null text of m scored tokens has p-value <= p)``.

    Per length ``w`` with threshold ``k`` (the least green count whose tail is ``<= p``): the first window,
    ``P(X_w >= k)``, plus ``m - w`` up-crossings, each ``gamma (1 - gamma) P(X_{w-1} = k - 1)`` (the window
    that drops a red token and gains a green one while its shared ``w - 1`` tokens hold ``k - 1`` greens).
    """
    from hf_addons._extras import require

    pmf = require("scipy.stats", "watermark").binom.pmf
    p = np.asarray(p, dtype=np.float64)
    m = np.asarray(m, dtype=np.int64)
    total = np.zeros_like(p)
    p_tol = p * (1 + 1e-9)  # a window at exactly p counts: the bound may only grow
    for w in window_lengths(int(m.max(initial=0)), min_window):
        tails = binomial_p_value(np.arange(w + 2), w, gamma)  # non-increasing in g; tails[w + 1] = 0
        k = np.searchsorted(-tails, -p_tol, side="left")  # the first g whose tail is <= p
        first = tails[np.minimum(k, w + 1)]
        cross = gamma * (1 - gamma) * pmf(k - 1, w - 1, gamma)
        total += np.where(m > w, first + np.maximum(m - w, 0) * cross, 0.0)
    return np.minimum(total, 1.0)


def scan_p_value(p_min: np.ndarray, m: np.ndarray, gamma: float, min_window: int) -> np.ndarray:
    """Calibrated p-value of the best shorter window: ``P(null min p <= p_min)`` for texts of ``m`` scored
    tokens, the smaller of the simulated tail and the Hunter-Worsley bound (NaN where no window was tested)."""
    p_min = np.asarray(p_min, dtype=np.float64)
    m = np.asarray(m, dtype=np.int64)
    out = hunter_worsley(p_min, m, gamma, min_window)
    tested = m > min_window
    rungs = np.where(tested, ladder_rungs(m, min_window), 0)
    for rung in np.unique(rungs[tested & (rungs <= MAX_SIMULATED)]):
        rows = rungs == rung
        table = null_table(int(rung), float(gamma), int(min_window))
        below = np.searchsorted(table, p_min[rows] * (1 + 1e-9), side="right")
        out[rows] = np.minimum(out[rows], (below + 1) / (table.size + 1))
    return np.where(tested, out, np.nan)
