"""The compiled alignment against ScanCode's own pure-Python ``match_blocks`` (``licensedcode/seq.py``,
ported below line for line) on random word sequences: small alphabets, so words repeat and blocks tie."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_addons.data.privacy.licenses import align


def _scancode_longest(a, b, alo, ahi, blo, bhi, b2j, legalese, matchables):
    """``seq.find_longest_match`` and ``extend_match``: the longest run of equal legalese words at
    matchable query positions (the first one met, scanning the query then the rule), extended over any
    equal words at matchable positions."""
    besti, bestj, bestsize = alo, blo, 0
    j2len: dict[int, int] = {}
    for i in range(alo, ahi):
        newj2len = {}
        if legalese[a[i]] and i in matchables:
            for j in b2j.get(a[i], ()):
                if j < blo:
                    continue
                if j >= bhi:
                    break
                k = newj2len[j] = j2len.get(j - 1, 0) + 1
                if k > bestsize:
                    besti, bestj, bestsize = i - k + 1, j - k + 1, k
        j2len = newj2len
    if bestsize:
        while besti > alo and bestj > blo and a[besti - 1] == b[bestj - 1] and (besti - 1) in matchables:
            besti, bestj, bestsize = besti - 1, bestj - 1, bestsize + 1
        while (
            besti + bestsize < ahi
            and bestj + bestsize < bhi
            and a[besti + bestsize] == b[bestj + bestsize]
            and (besti + bestsize) in matchables
        ):
            bestsize += 1
    return besti, bestj, bestsize


def _scancode_match_blocks(a, b, alo, ahi, legalese, matchables):
    """``seq.match_blocks``: the longest block, then the same before and after it; adjacent blocks merged."""
    b2j: dict[int, list[int]] = {}
    for j, w in enumerate(b):
        if legalese[w]:
            b2j.setdefault(w, []).append(j)
    queue, blocks = [(alo, ahi, 0, len(b))], []
    while queue:
        qlo, qhi, rlo, rhi = queue.pop()
        i, j, k = _scancode_longest(a, b, qlo, qhi, rlo, rhi, b2j, legalese, matchables)
        if k:
            blocks.append((i, j, k))
            if qlo < i and rlo < j:
                queue.append((qlo, i, rlo, j))
            if i + k < qhi and j + k < rhi:
                queue.append((i + k, qhi, j + k, rhi))
    blocks.sort()
    merged: list[list[int]] = []
    for i, j, k in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1][2] += k
        else:
            merged.append([i, j, k])
    return [tuple(m) for m in merged]


def _scancode_passes(a, b, lo, hi, legalese, matchable):
    """ScanCode's ``match_sequence`` loop: align again after the last block while a matchable legalese word
    is left in the run."""
    matchables = set(np.flatnonzero(matchable).tolist())
    out, start, p = [], lo, 0
    while True:
        blocks = _scancode_match_blocks(a, b, start, hi, legalese, matchables)
        if not blocks:
            return out
        out += [(i, j, k, p) for i, j, k in blocks]
        start, p = blocks[-1][0] + blocks[-1][2], p + 1
        if start >= hi or not any(legalese[a[x]] and matchable[x] for x in range(start, hi)):
            return out


words = st.lists(st.integers(0, 7), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=words, b=words, legal=st.lists(st.booleans(), min_size=8, max_size=8), data=st.data())
def test_alignment_equals_scancode_match_blocks(a, b, legal, data):
    legalese = np.array(legal)
    a_arr, b_arr = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    matchable = np.array(data.draw(st.lists(st.booleans(), min_size=len(a), max_size=len(a))))
    lo = data.draw(st.integers(0, len(a) - 1))
    hi = data.draw(st.integers(lo + 1, len(a)))
    anchors = legalese[a_arr] & matchable
    ours = align.alignments(a_arr, b_arr, legalese, lo, hi, anchors, matchable, passes=len(a))
    assert [tuple(r) for r in ours.tolist()] == _scancode_passes(a, b, lo, hi, legalese, matchable)
    one = align.alignments(a_arr, b_arr, legalese, lo, hi, anchors, matchable)
    assert [tuple(r[:3]) for r in one.tolist()] == _scancode_match_blocks(
        a, b, lo, hi, legalese, set(np.flatnonzero(matchable).tolist())
    )


def test_long_identical_texts_align_as_one_block():
    """A long text against itself (many repeated legalese words: the case a per-pair loop is slow on)."""
    rng = np.random.default_rng(0)
    text = rng.integers(0, 40, 3000)
    legalese = np.arange(40) < 10
    blocks = align.alignments(text, text, legalese, 0, 3000, legalese[text], np.ones(3000, dtype=bool))
    assert blocks.tolist() == [[0, 0, 3000, 0]]


def test_kernels_compile_without_a_writable_cache_folder(monkeypatch):
    """A read-only install with no writable home: numba cannot cache, and ``njit(cache=True)`` raises as the
    module is imported; the kernels compile uncached instead."""
    import numba.core.caching as caching
    from numba import njit

    from hf_addons.data.jit import compiled

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def add_one(x):
        return x + 1

    with pytest.raises(RuntimeError, match="cannot cache"):
        njit(cache=True)(add_one)
    assert compiled(add_one)(np.arange(3)).tolist() == [1, 2, 3]
    assert compiled(inline="always")(add_one)(np.arange(2)).tolist() == [1, 2]
