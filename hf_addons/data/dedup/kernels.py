"""Compiled inner loops of MinHash dedup: word hashing over a batch's bytes, the signatures' minima, and set
intersections of pairs.

As whole-array numpy passes these need large temporaries (edge masks, a permutations x shingles product, one
``searchsorted`` per shingle); one pass in order over memory does the same work. Results are bit-identical.
"""

from __future__ import annotations

import numpy as np

from hf_addons.data.dedup.minhash import _MIX  # minhash imports this module lazily: no cycle
from hf_addons.data.jit import compiled

_MIX_A = np.uint64(0xBF58476D1CE4E5B9)
_MIX_B = np.uint64(0x94D049BB133111EB)


@compiled(inline="always")
def _mix64(x):  # pragma: no cover - compiled
    x ^= x >> np.uint64(30)
    x *= _MIX_A
    x ^= x >> np.uint64(27)
    x *= _MIX_B
    return x ^ (x >> np.uint64(31))


_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)


@compiled
def hash_word_runs(cls: np.ndarray, words8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """``(starts, hashes)`` of the runs of word bytes (``cls == 1``); ``cls[0]`` must be 0 and the last 8
    bytes of the buffer not word bytes. ``words8[i]``: the 8 bytes from offset ``i``, little-endian.

    A word's hash: its first 8 bytes, plus each further 8 bytes (k = 1, 2, ...) mixed with ``k``, xor its
    length times a constant, mixed (splitmix64's finaliser).
    """
    n = len(words8)
    count = 0
    for i in range(1, n):
        count += cls[i] > cls[i - 1]
    starts = np.empty(count, np.int64)
    hashes = np.empty(count, np.uint64)
    w = 0
    i = 1
    while i < n:
        if cls[i] > cls[i - 1]:
            s = i
            while cls[i]:
                i += 1
            length = i - s
            h = words8[s] & _BYTE_MASKS[min(length, 8)]
            k = 1
            while 8 * k < length:
                chunk = words8[s + 8 * k] & _BYTE_MASKS[min(length - 8 * k, 8)]
                h += _mix64(chunk + np.uint64(k) * _MIX)
                k += 1
            h ^= np.uint64(length) * _MIX
            starts[w] = s
            hashes[w] = _mix64(h)
            w += 1
        else:
            i += 1
    return starts, hashes


@compiled
def pair_intersections(
    keys: np.ndarray, starts: np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray, mask: np.uint64
) -> np.ndarray:  # pragma: no cover - compiled
    """Size of the intersection of the sets of ``a[p]`` and ``b[p]``: a merge of their two sorted runs of
    ``keys`` (compared on the ``mask`` bits), O(|A| + |B|) per pair, in order over memory."""
    out = np.zeros(len(a), np.int64)
    for p in range(len(a)):
        i, i_end = starts[a[p]], starts[a[p]] + sizes[a[p]]
        j, j_end = starts[b[p]], starts[b[p]] + sizes[b[p]]
        c = 0
        while i < i_end and j < j_end:
            x, y = keys[i] & mask, keys[j] & mask
            if x == y:
                c += 1
                i += 1
                j += 1
            elif x < y:
                i += 1
            else:
                j += 1
        out[p] = c
    return out


@compiled
def min_affine(
    raw: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray, fmix: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """``(docs, perms)`` uint32: per document, the minimum of ``(a * h + b) mod 2**32`` over its hashes ``h``
    (``raw`` holds the documents' hashes one after another, ``counts`` per document); all-max when empty.

    ``h`` is ``raw`` pre-mixed by MurmurHash3's 32-bit finaliser with ``fmix`` = (s1, m1, s2, m2, s3)
    (datasketch's ``_fmix``); uint64 ``raw`` is first folded to 32 bits (high half xor low half).
    """
    m32 = np.uint64(0xFFFFFFFF)
    s1, m1, s2, m2, s3 = fmix[0], fmix[1], fmix[2], fmix[3], fmix[4]
    out = np.full((len(counts), len(a)), np.iinfo(np.uint32).max, np.uint32)
    lo = 0
    for d in range(len(counts)):
        row = out[d]
        for j in range(lo, lo + counts[d]):
            h = np.uint64(raw[j])
            h = (h ^ (h >> np.uint64(32))) & m32  # the identity on 32-bit input
            h ^= h >> s1
            h = (h * m1) & m32
            h ^= h >> s2
            h = (h * m2) & m32
            h ^= h >> s3
            for p in range(len(a)):  # one SIMD loop over the permutations
                v = np.uint32(np.uint64(a[p]) * h + np.uint64(b[p]))
                if v < row[p]:
                    row[p] = v
        lo += counts[d]
    return out


@compiled
def shingle_keys(
    raw: np.ndarray, counts: np.ndarray, docs: np.ndarray, shift: np.uint64, drop: np.uint64
) -> np.ndarray:  # pragma: no cover - compiled
    """``(i << shift) | (hash >> drop)`` for every hash of ``docs[i]`` (``raw``: all documents' hashes one after
    another, ``counts`` per document; ``docs`` ascending)."""
    first = np.zeros(len(counts) + 1, np.int64)
    for d in range(len(counts)):
        first[d + 1] = first[d] + counts[d]
    total = 0
    for i in range(len(docs)):
        total += counts[docs[i]]
    keys = np.empty(total, np.uint64)
    w = 0
    for i in range(len(docs)):
        high = np.uint64(i) << shift
        for j in range(first[docs[i]], first[docs[i] + 1]):
            keys[w] = high | (raw[j] >> drop)
            w += 1
    return keys


@compiled
def unique_runs(
    keys: np.ndarray, n: int, shift: np.uint64
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Sorted ``keys`` without repeats (compacted in place; the returned view) and how many of them each of
    the ``n`` documents (the bits from ``shift`` up) has."""
    sizes = np.zeros(n, np.int64)
    w = 0
    for i in range(len(keys)):
        if i == 0 or keys[i] != keys[w - 1]:
            keys[w] = keys[i]
            sizes[np.int64(keys[i] >> shift)] += 1
            w += 1
    return keys[:w], sizes


@compiled
def ngram_sums(h: np.ndarray, lengths: np.ndarray, mult: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Each text's word n-gram hashes (n = ``len(mult)``): ``sum(h[i + k] * mult[k])`` over the n words from
    each position, mod 2**64; a text of fewer than n words gives one sum over all of its words."""
    ngram = len(mult)
    total = 0
    for d in range(len(lengths)):
        total += max(lengths[d] - ngram + 1, min(lengths[d], 1))
    out = np.empty(total, np.uint64)
    w = 0
    lo = 0
    for d in range(len(lengths)):
        n = lengths[d]
        for i in range(max(n - ngram + 1, min(n, 1))):
            acc = np.uint64(0)
            for k in range(min(ngram, n)):
                acc += h[lo + i + k] * mult[k]
            out[w] = acc
            w += 1
        lo += n
    return out


@compiled
def class_multibyte(buf: np.ndarray, cls: np.ndarray, is_word: np.ndarray) -> None:  # pragma: no cover
    """In place: every byte of a multi-byte UTF-8 character (``cls == 2``) gets ``is_word`` of the code point
    decoded from its lead byte on (1 or 0)."""
    for i in range(len(cls)):
        if cls[i] == 2 and buf[i] >= 0xC0:
            size = 2 + (buf[i] >= 0xE0) + (buf[i] >= 0xF0)
            point = np.int64(buf[i]) & (0x07 if size == 4 else 0x0F if size == 3 else 0x1F)
            for k in range(1, size):
                point = (point << 6) | (np.int64(buf[i + k]) & 0x3F)
            c = is_word[min(point, 0x10FFFF)]
            for k in range(size):
                cls[i + k] = c
