"""The vectorised hashing paths of ``minhash`` against straightforward per-word / per-shingle references."""

from __future__ import annotations

import re

import numpy as np
import pytest
from data.helpers import fold32

from hf_addons.data.dedup.minhash import (
    _POS_MULT,
    MinHashConfig,
    _signatures_from_hashes,
    _word_ngram_hashes,
    word_hashes,
)

_WORD = re.compile(r"\w+")
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

TEXTS = [
    "Hello, World! café_au-lait 3.14",
    "  -- leading and trailing --  ",
    "",
    None,
    "Ünïcödé ΣΊΣΥΦΟΣ 東京 ①② 𝔘𝔫𝔦 x\U0001f600y İstanbul \ud800lone surrogate",
    "exactly8 sixteen_bytes_long seventeen_bytes_xx " + "w" * 40 + " é" * 3,
    "a\nb\tc\x00d",
    "one two three four",  # shorter than a 5-gram
    "the same words the same words the same words",
]


def _mix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _reference_word_hash(word: str) -> int:
    """The documented word hash, one word at a time in Python integers."""
    data = word.encode("utf-8", "surrogatepass")
    h = int.from_bytes(data[:8], "little")
    for k in range(1, (len(data) + 7) // 8):
        h = (h + _mix((int.from_bytes(data[8 * k : 8 * k + 8], "little") + k * _GOLDEN) & _M64)) & _M64
    return _mix(h ^ ((len(data) * _GOLDEN) & _M64))


def _reference_words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def test_word_hashes_equal_per_word_reference():
    got, per_text = word_hashes(TEXTS)
    words = [_reference_words(t) for t in TEXTS]
    assert per_text.tolist() == [len(w) for w in words]
    expected = [_reference_word_hash(w) for ws in words for w in ws]
    assert got.tolist() == expected
    # the same word gets the same hash wherever it stands (another batch, another position)
    again, _ = word_hashes(["zzz " + TEXTS[0]])
    assert again.tolist()[1:] == got.tolist()[: per_text[0]]


@pytest.mark.parametrize("ngram", [1, 2, 3, 5, 7])
def test_word_ngram_hashes_equal_per_shingle_reference(ngram):
    got, counts = _word_ngram_hashes(TEXTS, ngram)
    expected, expected_counts = [], []
    for text in TEXTS:
        h = [_reference_word_hash(w) for w in _reference_words(text)]
        starts = range(len(h) - ngram + 1) if len(h) >= ngram else range(min(len(h), 1))
        for i in starts:
            window = h[i : i + ngram]
            expected.append(sum(x * int(m) for x, m in zip(window, _POS_MULT)) & _M64)
        expected_counts.append(len(starts))
    assert counts.tolist() == expected_counts
    assert got.tolist() == expected


def test_signature_minimum_equals_per_document_reference():
    from datasketch.minhash import _fmix

    from hf_addons.data.dedup.minhash import _permutations

    params = MinHashConfig()
    raw64, counts = _word_ngram_hashes(TEXTS * 3, params.ngram)
    raw = fold32(raw64)
    a, b = _permutations(params.num_perm, params.seed)
    hv = _fmix(raw, 32).astype(np.uint64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    sig = _signatures_from_hashes(raw, counts, params)
    for d in range(len(counts)):
        rows = hv[bounds[d] : bounds[d + 1], None]
        ref = ((rows * a + b) & 0xFFFFFFFF).min(axis=0) if len(rows) else np.full(len(a), 0xFFFFFFFF)
        np.testing.assert_array_equal(sig[d], ref)
