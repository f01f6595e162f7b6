"""Exact and MinHash near-duplicate removal: batched signature steps, then one global clustering pass.

Dedup is global (a document's duplicate may sit in any shard), so it is split the way datatrove and
text-dedup split it: a per-batch map step computes a fingerprint column (normalised-text hash, or MinHash
signature + LSH band keys), then ``cluster_*`` groups all fingerprints at once (band buckets -> edges ->
connected components) and returns a cluster id and a keep flag per row. The MinHash permutations are
datasketch's (its default ``affine32`` scheme, seed-derived), applied to all shingles of a batch in numpy
instead of one ``MinHash.update`` per shingle; the input hash is datasketch's SHA1-32 of each shingle string
(``hash="sha1"``, bit-identical) or, by default, a 64-bit word-n-gram hash computed from the batch's UTF-8
bytes without a Python object per word or shingle (``hash="words"``).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_addons.data.base import Batch, Step, register_step, require_columns

_WORD = re.compile(r"\w+")
# mixing constants for 64-bit band keys (odd, from splitmix64)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def normalize_text(text: str) -> str:
    """Lower-case words joined by single spaces: punctuation, case and spacing differences vanish."""
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, ngram: int = 5) -> set[str]:
    """Word n-gram shingles of the normalised text (a short text gives one shingle of all its words)."""
    words = _WORD.findall(text.lower())
    if len(words) <= ngram:
        return {" ".join(words)} if words else set()
    return set(map(" ".join, zip(*[words[i:] for i in range(ngram)])))


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class ExactHash(Step):
    """Adds ``exact_hash`` (hex of the first 8 bytes of BLAKE2b over the normalised text).

    Args:
        text_column: the column hashed.

    Examples:

    ```python
    >>> len(ExactHash()({"text": ["A b."]})["exact_hash"][0])
    16
    ```
    """

    name = "exact"

    def __init__(self, text_column: str = "text") -> None:
        self.text_column = text_column

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        return {
            "exact_hash": [
                hashlib.blake2b(normalize_text(t or "").encode(), digest_size=8).hexdigest()
                for t in batch[self.text_column]
            ]
        }


def cluster_exact(hashes: Sequence[str], eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster id (index of the first row with the same hash) and keep flag per row.

    Args:
        hashes: one hash per row (``ExactHash``' ``exact_hash``).
        eligible: rows that may be judged (others are kept as their own cluster).

    Examples:

    ```python
    >>> cluster_exact(["a", "b", "a"])[1].tolist()
    [True, True, False]
    ```
    """
    codes, first = _first_occurrence(np.asarray(hashes, dtype=object), eligible)
    return codes, first


def _first_occurrence(keys: np.ndarray, eligible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    n = len(keys)
    idx = np.arange(n)
    cluster = idx.copy()
    mask = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
    if mask.any():
        sub = idx[mask]
        _, first_pos, inverse = np.unique(keys[mask].astype(str), return_index=True, return_inverse=True)
        cluster[sub] = sub[first_pos][inverse]
    keep = cluster == idx
    return cluster, keep & mask | ~mask


@dataclass
class MinHashConfig:
    """MinHash/LSH parameters; the defaults are datatrove's (5-grams, 14 bands x 8 rows = 112 hashes).

    Rows and bands pass through ``MinHashConfig.threshold``: a pair becomes a candidate with probability
    1 - (1 - J^rows)^bands, ~0.99 at Jaccard 0.85 with the defaults. (``MinHashParams`` is its deprecated
    name.)

    Args:
        ngram: words per shingle.
        num_bands: LSH bands (more bands: more candidates at lower Jaccard).
        hash: ``"words"``, vectorised word-n-gram hashing (fast), or ``"sha1"``, datasketch's exact
            shingle-string hashing.
        rows_per_band: hashes per band (more rows: fewer candidates at lower Jaccard).
        seed: seed of the hash permutations.

    Examples:

    ```python
    >>> MinHashConfig().num_perm, round(MinHashConfig().threshold(), 3)
    (112, 0.719)
    ```
    """

    ngram: int = field(default=5, metadata={"help": "words per shingle"})
    num_bands: int = field(default=14, metadata={"help": "LSH bands"})
    hash: str = field(
        default="words",
        metadata={"help": "'words': vectorised word-n-gram hashing; 'sha1': datasketch's shingle hashing"},
    )
    rows_per_band: int = field(default=8, metadata={"help": "hashes per band"})
    seed: int = field(default=1, metadata={"help": "seed of the hash permutations"})

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band

    def threshold(self) -> float:
        """Jaccard where a pair becomes a candidate with probability ~0.5: (1/b)^(1/r)."""
        return (1.0 / self.num_bands) ** (1.0 / self.rows_per_band)


_PERMS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    key = (num_perm, seed)
    if key not in _PERMS:
        from datasketch import MinHash

        m = MinHash(num_perm=num_perm, seed=seed)
        if m.scheme != "affine32":  # pragma: no cover - guards a datasketch default change
            raise RuntimeError(f"datasketch MinHash default scheme is {m.scheme!r}; expected 'affine32'")
        a, b = m.permutations
        _PERMS[key] = (a.astype(np.uint32), b.astype(np.uint32))
    return _PERMS[key]


def _sha1_32(items: list[str]) -> np.ndarray:
    """datasketch's ``sha1_hash32`` for many strings, as one uint32 array."""
    sha1 = hashlib.sha1
    digest = b"".join([sha1(s.encode("utf-8")).digest()[:4] for s in items])
    return np.frombuffer(digest, dtype="<u4").astype(np.uint32)


def _sha1_hashes(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch-exact input hashes: SHA1-32 of every distinct shingle string, and shingles per text."""
    sets = [shingles(t or "", ngram) for t in texts]
    counts = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    flat = [s for doc in sets for s in doc]
    return (_sha1_32(flat) if flat else np.zeros(0, np.uint32)), counts


# odd 64-bit multipliers combining the word hashes of a shingle (position-dependent)
_POS_MULT = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD,
     0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9, 0x2545F4914F6CDD1D, 0x9FB21C651E98DF25],
    dtype=np.uint64,
)  # fmt: skip


# Python's ``\w`` is a letter, a number or "_": the same class in RE2 (Arrow's regex engine)
_NON_WORD_RE2 = r"[^\p{L}\p{N}_]+"


def word_codes(texts: Sequence[str | None]) -> tuple[np.ndarray, list[str], np.ndarray]:
    r"""Lower-cased ``\w+`` words of all texts as ``(word ids, vocabulary, words per text)``.

    The split and the dictionary encoding run in Arrow's C++ kernels, without a Python object per word;
    the words are those of ``_WORD.findall(text.lower())``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    # str.lower per text (not Arrow's utf8_lower): Python's rules, e.g. the Greek final sigma
    arr = pa.array([(t or "").lower() for t in texts], pa.large_string())
    words = pc.split_pattern_regex(arr, _NON_WORD_RE2)
    per_text = pc.list_value_length(words).to_numpy(zero_copy_only=False).astype(np.int64)
    encoded = pc.dictionary_encode(pc.list_flatten(words))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    vocab = encoded.dictionary.to_pylist()
    if "" not in vocab:
        return codes, vocab, per_text
    # a separator at either end of a text leaves an empty string: drop it, and recount words per text
    real = codes != vocab.index("")
    owner = np.repeat(np.arange(len(per_text)), per_text)
    return codes[real], vocab, np.bincount(owner[real], minlength=len(per_text)).astype(np.int64)


_WORD_TABLE: list[np.ndarray] = []


def _word_char_table() -> np.ndarray:
    r"""Bool per Unicode code point: does Python's ``\w`` match it (built once from the regex itself)."""
    if not _WORD_TABLE:
        points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)])  # no lone surrogates
        spans = np.array([m.span() for m in _WORD.finditer("".join(map(chr, points.tolist())))], np.int64)
        depth = np.zeros(len(points) + 1, np.int64)
        np.add.at(depth, spans[:, 0], 1)
        np.add.at(depth, spans[:, 1], -1)
        table = np.zeros(0x110000, bool)
        table[points[np.cumsum(depth[:-1]) > 0]] = True
        _WORD_TABLE.append(table)
    return _WORD_TABLE[0]


# bytes.translate table: ASCII word characters -> 1, other ASCII -> 0, bytes of multi-byte characters -> 2
_ASCII_CLASS = bytes(2 if b >= 0x80 else int(chr(b).isalnum() or b == 0x5F) for b in range(256))


def word_hashes(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    r"""64-bit hash of every lower-cased ``\w+`` word of all texts, and words per text.

    The words are those of ``_WORD.findall(text.lower())``, found without a Python object per word: the
    batch is one UTF-8 buffer, each byte is classed by ``bytes.translate`` (multi-byte characters are
    decoded and looked up in a code-point table of ``\w``, compiled), and one compiled pass finds the runs of
    word bytes and hashes each from its bytes (8 at a time, mixed with splitmix64), so equal words get equal
    hashes in every process and batch.
    """
    from hf_addons.data.dedup.kernels import class_multibyte, hash_word_runs

    encoded = [(t or "").lower().encode("utf-8", "surrogatepass") for t in texts]
    sizes = np.fromiter(map(len, encoded), np.int64, len(encoded))
    # "\n" before, between and after the texts (not a word character: no word spans two texts), then
    # zeros so that 8-byte loads near the end stay inside the buffer
    data = b"\n".join([b"", *encoded, bytes(16)])
    buf = np.frombuffer(data, np.uint8)
    cls = np.frombuffer(data.translate(_ASCII_CLASS), np.uint8)
    if not data.isascii():  # decode the code point of each multi-byte character from its lead byte on
        cls = cls.copy()
        class_multibyte(buf, cls, _word_char_table().view(np.uint8))
    # every offset of the buffer viewed as a little-endian uint64 (unaligned, no copy)
    words8 = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    starts, h = hash_word_runs(cls, words8)
    text_starts = np.cumsum(sizes + 1) - sizes
    per_text = np.diff(np.append(np.searchsorted(starts, text_starts), len(starts)))
    return h, per_text


def _word_ngram_hashes(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Input hashes of a whole batch: every word n-gram's hash as a position-weighted 64-bit sum of its word
    hashes (``word_hashes``); the signature pass folds them to 32 bits (high half xor low half).

    Duplicate shingles inside a text are not removed: a minimum does not change with repeats.
    """
    if ngram > len(_POS_MULT):
        raise ValueError(f"ngram must be <= {len(_POS_MULT)} with hash='words', got {ngram}")
    h, lengths = word_hashes(texts)
    if not lengths.sum():
        return np.zeros(0, np.uint64), np.zeros(len(texts), np.int64)
    from hf_addons.data.dedup.kernels import ngram_sums

    # a text shorter than ngram gives one shingle of all its words
    counts = np.maximum(lengths - ngram + 1, np.minimum(lengths, 1))
    return ngram_sums(h, lengths.astype(np.int64), _POS_MULT[:ngram]), counts


def minhash_signatures(texts: Sequence[str], params: MinHashConfig | None = None) -> np.ndarray:
    """``(len(texts), num_perm)`` uint32 MinHash signatures with datasketch's permutations (``affine32``).

    ``params.hash="sha1"`` hashes shingle strings exactly as ``MinHash.update`` does (bit-identical to
    datasketch); ``"words"`` (default) hashes the words from the batch's bytes and combines n-grams in numpy,
    ~10x faster. One compiled pass per document applies all permutations to each hash and keeps the
    minima. Empty texts get the all-max signature.

    Args:
        texts: the documents.
        params: the MinHash/LSH settings (default :class:`MinHashConfig`).

    Examples:

    ```python
    >>> minhash_signatures(["a b c d e f", "a b c d e f"]).shape
    (2, 112)
    ```
    """
    params = params or MinHashConfig()
    if params.hash == "sha1":
        raw, counts = _sha1_hashes(texts, params.ngram)
    elif params.hash == "words":
        raw, counts = _word_ngram_hashes(texts, params.ngram)
    else:
        raise ValueError(f"MinHashConfig.hash must be 'words' or 'sha1', got {params.hash!r}")
    return _signatures_from_hashes(raw, counts, params)


def _signatures_from_hashes(raw: np.ndarray, counts: np.ndarray, params: MinHashConfig) -> np.ndarray:
    """datasketch's ``affine32`` permutations + per-document minimum over concatenated input hashes: uint32
    hashes as they are, uint64 ones folded to 32 bits first (high half xor low half)."""
    from datasketch.minhash import _FMIX_CONSTANTS

    from hf_addons.data.dedup.kernels import min_affine

    a, b = _permutations(params.num_perm, params.seed)
    if not len(raw):
        return np.full((len(counts), params.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    if raw.dtype not in (np.uint32, np.uint64):
        raise TypeError(f"input hashes must be uint32 or uint64, got {raw.dtype}")
    fmix = np.array(_FMIX_CONSTANTS[32], np.uint64)
    return min_affine(raw, np.asarray(counts, np.int64), a, b, fmix)


def band_keys(signatures: np.ndarray, params: MinHashConfig | None = None) -> np.ndarray:
    """``(n, num_bands)`` uint64 bucket keys: a 64-bit mix of each band's rows (and the band index)."""
    params = params or MinHashConfig()
    sig = signatures.reshape(len(signatures), params.num_bands, params.rows_per_band).astype(np.uint64)
    keys = np.zeros(sig.shape[:2], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(params.rows_per_band):  # rows_per_band (8) vectorised steps, not per document
            keys = (keys ^ sig[:, :, r]) * _MIX
            keys ^= keys >> np.uint64(29)
        keys ^= np.arange(params.num_bands, dtype=np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
    return keys


class MinHashSignatures(Step):
    """Batched map step adding ``minhash_bands``: the LSH band keys of each text (signatures optional).

    Args:
        text_column: the column signed.
        params: the MinHash/LSH settings (default :class:`MinHashConfig`).
        keep_signature: also add the full signature (``minhash_signature``).

    Examples:

    ```python
    >>> len(MinHashSignatures()({"text": ["a b c d e f"]})["minhash_bands"][0])
    14
    ```
    """

    name = "minhash"

    def __init__(
        self, text_column: str = "text", params: MinHashConfig | None = None, keep_signature: bool = False
    ) -> None:
        self.text_column = text_column
        self.params = params or MinHashConfig()
        self.keep_signature = keep_signature

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        sig = minhash_signatures(batch[self.text_column], self.params)
        # int64 view of the uint64 keys: Arrow and Ray store them without overflow, equality is unchanged
        out: Batch = {"minhash_bands": band_keys(sig, self.params).view(np.int64).tolist()}
        if self.keep_signature:
            out["minhash_signature"] = sig.tolist()
        return out


def candidate_edges(bands: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """``(m, 2)`` edges linking each row to the smallest row sharing one of its band buckets."""
    if bands.ndim != 2:
        raise ValueError(f"band keys must be a (rows, bands) array, got shape {bands.shape}")
    n, nb = bands.shape
    rows = np.repeat(np.arange(n), nb)
    band_idx = np.tile(np.arange(nb), n)
    keys = bands.reshape(-1)
    if eligible is not None:
        m = np.repeat(np.asarray(eligible, bool), nb)
        rows, band_idx, keys = rows[m], band_idx[m], keys[m]
    if len(rows) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # keys already mix in the band index; sort by key then row so the bucket head is the smallest row
    order = np.lexsort((rows, keys))
    k, r = keys[order], rows[order]
    new_bucket = np.concatenate([[True], k[1:] != k[:-1]])
    head = r[np.flatnonzero(new_bucket)][np.cumsum(new_bucket) - 1]
    edges = np.stack([head, r], axis=1)[head != r]
    return np.unique(edges, axis=0) if len(edges) else edges.astype(np.int64)


def connected_components(n: int, edges: np.ndarray) -> np.ndarray:
    """Cluster id per row = smallest row index in its component (union-find via scipy's csgraph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    if len(edges) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(edges), bool), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = cc(graph, directed=False)
    smallest = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]


def bucket_pairs(
    bands: np.ndarray, eligible: np.ndarray | None = None, max_fanout: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs inside band buckets for precision mode: ``(pairs (m, 2), level (m,), band (m,))``.

    The rows of each bucket are put in a seeded pseudo-random order; row ``a`` of that order (``a <
    max_fanout``) is paired with every later row, with ``level = a``. A bucket of at most ``max_fanout + 1``
    rows thus yields all of its pairs; a larger one yields each row against the bucket's first
    ``max_fanout`` rows (its representatives), so the cost is at most ``max_fanout`` pairs per row and band.
    A pair found in several bands is listed once, with its lowest ``(level, band)``. Pairs are
    ``(small, large)`` row ids.
    """
    if bands.ndim != 2:
        raise ValueError(f"band keys must be a (rows, bands) array, got shape {bands.shape}")
    if max_fanout < 1:
        raise ValueError(f"max_fanout must be >= 1, got {max_fanout}")
    n, nb = bands.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), nb)
    band_of = np.tile(np.arange(nb, dtype=np.int64), n)
    keys = np.ascontiguousarray(bands).view(np.int64).reshape(-1)
    if eligible is not None:
        m = np.repeat(np.asarray(eligible, bool), nb)
        rows, keys, band_of = rows[m], keys[m], band_of[m]
    empty = np.zeros((0, 2), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(rows) < 2:
        return empty
    with np.errstate(over="ignore"):
        prio = (rows.astype(np.uint64) + np.uint64(seed) + np.uint64(1)) * _MIX
        prio ^= prio >> np.uint64(31)
    order = np.lexsort((prio, keys))
    k, r = keys[order], rows[order]
    new_bucket = np.concatenate([[True], k[1:] != k[:-1]])
    start = np.flatnonzero(new_bucket)
    size = np.diff(np.append(start, len(k)))
    # only buckets with two or more rows produce pairs (on real data most buckets hold one row)
    multi = np.repeat(size > 1, size)
    bucket_start = np.repeat(start, size)[multi]
    r_multi, band_multi = r[multi], band_of[order][multi]
    pos = np.arange(len(k))[multi] - bucket_start
    firsts, seconds, levels, pair_bands = [], [], [], []
    live = pos > 0
    for a in range(max_fanout):  # max_fanout vectorised passes, each over the rows still after position a
        idx = np.flatnonzero(live)
        if not len(idx):
            break
        firsts.append(r[bucket_start[idx] + a])
        seconds.append(r_multi[idx])
        levels.append(np.full(len(idx), a, np.int64))
        pair_bands.append(band_multi[idx])
        live &= pos > a + 1
    if not firsts:
        return empty
    x, y = np.concatenate(firsts), np.concatenate(seconds)
    level, band = np.concatenate(levels), np.concatenate(pair_bands)
    lo, hi = np.minimum(x, y), np.maximum(x, y)
    keep = lo != hi
    lo, hi, level, band = lo[keep], hi[keep], level[keep], band[keep]
    pair_key = lo * np.int64(n) + hi
    order = np.lexsort((band, level, pair_key))
    pair_key, level, band = pair_key[order], level[order], band[order]
    first = np.concatenate([[True], pair_key[1:] != pair_key[:-1]])
    pair_key, level, band = pair_key[first], level[first], band[first]
    return np.stack([pair_key // n, pair_key % n], axis=1), level, band


class ShingleSets:
    """Sets of 64-bit shingle hashes of many documents, for exact Jaccard of many pairs at once.

    Built from concatenated per-document hashes (repeats allowed). A document's set becomes a sorted run
    of ``doc << (64 - d) | hash >> d`` keys (``d`` bits number the documents, the hash keeps the other
    ``64 - d``), made by one sort of the whole batch; the overlap of a pair is a compiled merge of the two
    runs. Two different shingles of a pair count as one only when their hashes agree on those ``64 - d`` bits
    (probability about ``|A| |B| / 2**(64 - d)``: ~4e-9 for two 2,000-shingle texts among 10,000 documents).
    """

    def __init__(self, raw64: np.ndarray, counts: np.ndarray, docs: np.ndarray | None = None) -> None:
        """``docs``: only these documents (ascending), numbered ``0 .. len(docs) - 1`` here."""
        from hf_addons.data.dedup.kernels import shingle_keys, unique_runs

        counts = np.asarray(counts, np.int64)
        docs = np.arange(len(counts)) if docs is None else np.asarray(docs, np.int64)
        n = len(docs)
        doc_bits = max(int(n - 1).bit_length(), 1)
        self.shift = np.uint64(64 - doc_bits)
        self.mask = np.uint64((1 << (64 - doc_bits)) - 1)
        keys = shingle_keys(np.asarray(raw64, np.uint64), counts, docs, self.shift, np.uint64(doc_bits))
        keys.sort()  # numpy's SIMD sort where the CPU has one (x86-simd-sort): ~6x timsort here
        self.keys, self.sizes = unique_runs(keys, n, self.shift)  # one key per (doc, shingle)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    def jaccard(self, pairs: np.ndarray) -> np.ndarray:
        """Exact Jaccard of each ``(i, j)`` row of ``pairs`` (two empty sets count as identical, 1.0)."""
        from hf_addons.data.dedup.kernels import pair_intersections

        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        a, b = np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])
        inter = pair_intersections(self.keys, self.starts, self.sizes, a, b, self.mask)
        union = self.sizes[a] + self.sizes[b] - inter
        out = np.ones(len(pairs), np.float64)  # two empty sets: 1.0
        np.divide(inter, union, out=out, where=union > 0)
        return out

    def at_least(self, pairs: np.ndarray, threshold: float) -> np.ndarray:
        """Mask of pairs with Jaccard >= ``threshold``; pairs whose set sizes alone rule it out
        (``min/max < threshold``) are rejected without a lookup."""
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        sa, sb = self.sizes[pairs[:, 0]], self.sizes[pairs[:, 1]]
        possible = np.minimum(sa, sb) >= threshold * np.maximum(sa, sb)
        ok = np.zeros(len(pairs), bool)
        ok[possible] = self.jaccard(pairs[possible]) >= threshold
        return ok


def verified_components(
    n: int,
    pairs: np.ndarray,
    level: np.ndarray,
    check: Callable[[np.ndarray], np.ndarray],
    band: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Union-find over the pairs that pass ``check``, skipping pairs already joined: ``(cluster, checked)``.

    Pairs are checked in rounds: the level-0 pairs one band at a time (when ``band`` is given), then
    levels 1, 2-3, 4-7, ... After each round the components are recomputed, and a pair whose rows are
    already in one component is not checked (its result could not change the components). The clusters
    are therefore exactly those of checking every pair, at the cost of about one check per row for groups
    of true near-duplicates.
    """
    cluster = np.arange(n)
    accepted: list[np.ndarray] = []
    checked = 0
    if not len(pairs):
        return cluster, checked
    group = np.floor(np.log2(level + 1)).astype(np.int64)
    if band is not None:  # rounds 0 .. bands-1: level 0 by band; then the level groups
        nb = int(band.max()) + 1
        group = np.where(level == 0, band, nb + group - 1)
    for g in np.unique(group):
        sel = pairs[group == g]
        sel = sel[cluster[sel[:, 0]] != cluster[sel[:, 1]]]
        if not len(sel):
            continue
        checked += len(sel)
        ok = sel[np.asarray(check(sel), bool)]
        if len(ok):
            accepted.append(ok)
            cluster = connected_components(n, np.concatenate(accepted))
    return cluster, checked


def verify_edges(edges: np.ndarray, texts: Sequence[str], threshold: float, ngram: int = 5) -> np.ndarray:
    """Keep only candidate pairs whose true shingle Jaccard reaches ``threshold`` (precision mode).

    Shingle sets are the word-n-gram hashes of the involved texts (vectorised; see ``ShingleSets`` for the
    collision odds), so the check is exact Jaccard without building Python string sets.
    """
    if len(edges) == 0:
        return edges
    docs = np.unique(edges)
    raw, counts = _word_ngram_hashes([texts[int(d)] or "" for d in docs], ngram)
    local = np.searchsorted(docs, edges)
    return edges[ShingleSets(raw, counts).at_least(local, threshold)]


DEFAULT_MAX_FANOUT = 64


def near_dedup(
    texts: Sequence[str],
    params: MinHashConfig | None = None,
    verify_threshold: float | None = None,
    eligible: np.ndarray | None = None,
    max_fanout: int = DEFAULT_MAX_FANOUT,
) -> tuple[np.ndarray, np.ndarray]:
    """In-memory near-dedup of a list of texts: ``(cluster_id, keep)``.

    Shingles are hashed once and serve both the signatures and the precision-mode Jaccard check.

    Args:
        texts: the documents.
        params: the MinHash/LSH settings (default :class:`MinHashConfig`).
        verify_threshold: precision mode: candidate pairs must reach this true shingle Jaccard (None: off).
        eligible: mask of rows that may be judged (others keep their own cluster and are kept).
        max_fanout: representatives per row in band buckets over ``max_fanout + 1`` rows (see
            ``cluster_minhash``).

    Examples:

    ```python
    >>> cluster, keep = near_dedup(["the same long text " * 20, "the same long text " * 20, "other"])
    >>> keep.tolist()
    [True, False, True]
    ```
    """
    params = params or MinHashConfig()
    if params.hash != "words":
        bands = band_keys(minhash_signatures(texts, params), params)
        return cluster_minhash(
            bands,
            eligible,
            texts=texts,
            verify_threshold=verify_threshold,
            ngram=params.ngram,
            max_fanout=max_fanout,
        )
    raw64, counts = _word_ngram_hashes(texts, params.ngram)
    sig = _signatures_from_hashes(raw64, counts, params)
    bands = band_keys(sig, params)
    n = len(texts)
    if verify_threshold is None:
        cluster = connected_components(n, candidate_edges(bands, eligible))
    else:
        pairs, level, band = bucket_pairs(bands, eligible, max_fanout)
        if len(pairs):
            docs = np.unique(pairs)
            sets = ShingleSets(raw64, counts, docs)

            def check(sel: np.ndarray) -> np.ndarray:
                return sets.at_least(np.searchsorted(docs, sel), verify_threshold)

            cluster, _ = verified_components(n, pairs, level, check, band)
        else:
            cluster = np.arange(n)
    return cluster, cluster == np.arange(n)


def cluster_minhash(
    bands: np.ndarray | Sequence[Sequence[int]],
    eligible: np.ndarray | None = None,
    *,
    texts: Sequence[str] | Callable[[np.ndarray], Mapping[int, str]] | None = None,
    verify_threshold: float | None = None,
    ngram: int = 5,
    max_fanout: int = DEFAULT_MAX_FANOUT,
) -> tuple[np.ndarray, np.ndarray]:
    """Global near-dedup over band keys: ``(cluster_id, keep)`` per row; the smallest row of a cluster stays.

    Without ``verify_threshold`` every band bucket is one group (LSH candidates, closed by union-find).
    With it (precision mode; needs ``texts``: a sequence, or a function from row ids to ``{id: text}`` so
    only the candidates' texts are read) two rows are joined only through pairs whose exact shingle Jaccard
    reaches the threshold, and every candidate pair inside a bucket is eligible for that check
    (``bucket_pairs``): a bucket of at most ``max_fanout + 1`` rows has all its pairs checked, a larger one
    has each row checked against ``max_fanout`` seeded-random representatives. Pairs whose rows are
    already joined are skipped (``verified_components``), so the clusters equal those of checking every
    pair whenever no bucket exceeds the cap. Rows not ``eligible`` (rejected by an earlier step) are their
    own cluster and are not judged here.

    Args:
        bands: LSH band keys per row (``MinHashSignatures``' ``minhash_bands``).
        eligible: rows that may be judged (others are their own cluster).
        texts: for precision mode: the texts, or a function from row ids to ``{id: text}``.
        verify_threshold: precision mode: candidate pairs must reach this true shingle Jaccard (None: off).
        ngram: shingle size of the Jaccard check.
        max_fanout: representatives per row in buckets of more than ``max_fanout + 1`` rows.

    Examples:

    ```python
    >>> sig = MinHashSignatures()({"text": ["same words here " * 20] * 2 + ["other"]})["minhash_bands"]
    >>> cluster_minhash(sig)[1].tolist()
    [True, False, True]
    ```
    """
    bands = np.asarray(bands)
    if bands.dtype == np.uint64:
        bands = bands.view(np.int64)
    n = len(bands)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    if verify_threshold is None:
        cluster = connected_components(n, candidate_edges(bands, eligible))
        return cluster, cluster == np.arange(n)
    if texts is None:
        raise ValueError("cluster_minhash: verify_threshold needs the texts")
    pairs, level, band = bucket_pairs(bands, eligible, max_fanout)
    if not len(pairs):
        return np.arange(n), np.ones(n, bool)
    docs = np.unique(pairs)
    if callable(texts):
        got = texts(docs)
        doc_texts = [got[int(d)] or "" for d in docs]
    else:
        doc_texts = [texts[int(d)] or "" for d in docs]
    raw, counts = _word_ngram_hashes(doc_texts, ngram)
    sets = ShingleSets(raw, counts)

    def check(sel: np.ndarray) -> np.ndarray:
        return sets.at_least(np.searchsorted(docs, sel), verify_threshold)

    cluster, _ = verified_components(n, pairs, level, check, band)
    return cluster, cluster == np.arange(n)


@register_step("exact_dedup", default=5)
class ExactDeduplicator:
    """Pipeline stage: normalised-text hash per batch, then keep the first row of each hash.

    Args:
        text_column: the column hashed (after normalising case, punctuation and whitespace).

    Examples:

    ```python
    >>> from hf_addons.data import Pipeline
    >>> list(Pipeline([ExactDeduplicator()]).apply({"text": ["A b.", "a B", "c"]})["exact_dedup_keep"])
    [True, False, True]
    ```
    """

    name = "exact_dedup"

    def __init__(self, text_column: str = "text") -> None:
        self.text_column = text_column

    def signature_step(self) -> Step:
        return ExactHash(self.text_column)

    def cluster(self, columns: dict[str, Any], eligible: np.ndarray | None = None, fetch_texts=None):
        return cluster_exact(columns["exact_hash"], eligible)

    @property
    def columns(self) -> list[str]:
        return ["exact_hash"]

    def __repr__(self) -> str:
        return f"ExactDeduplicator(text_column={self.text_column!r})"


@register_step("minhash_dedup", default=6)
class MinHashDeduplicator:
    """Pipeline stage: MinHash/LSH near-dedup (datatrove defaults), optional true-Jaccard verification.

    ``verify_threshold=0.85`` (BigCode's value) turns on precision mode: rows are joined only through
    candidate pairs whose exact shingle Jaccard reaches it; ``max_fanout`` caps the pairs checked per row
    and band bucket (see ``cluster_minhash``).

    Args:
        text_column: column holding the text.
        params: MinHash/LSH parameters (datatrove's defaults).
        verify_threshold: exact-Jaccard threshold of precision mode; ``None`` keeps raw LSH buckets.
        max_fanout: bucket representatives each row is checked against in buckets larger than
            ``max_fanout + 1`` rows (smaller buckets have every pair checked).

    Examples:

    ```python
    >>> stage = MinHashDeduplicator(verify_threshold=0.85)
    >>> report = Pipeline([stage]).run(dataset, "out/")  # doctest: +SKIP
    ```
    """

    name = "minhash_dedup"

    def __init__(
        self,
        text_column: str = "text",
        params: MinHashConfig | None = None,
        verify_threshold: float | None = None,
        max_fanout: int = DEFAULT_MAX_FANOUT,
    ) -> None:
        if verify_threshold is not None and not 0.0 < verify_threshold <= 1.0:
            raise ValueError(f"verify_threshold must be in (0, 1], got {verify_threshold}")
        if max_fanout < 1:
            raise ValueError(f"max_fanout must be >= 1, got {max_fanout}")
        self.text_column = text_column
        self.params = params or MinHashConfig()
        self.verify_threshold = verify_threshold
        self.max_fanout = max_fanout

    def signature_step(self) -> Step:
        return MinHashSignatures(self.text_column, self.params)

    @property
    def columns(self) -> list[str]:
        return ["minhash_bands"]

    def cluster(self, columns: dict[str, Any], eligible: np.ndarray | None = None, fetch_texts=None):
        """``fetch_texts(column, ids) -> {id: text}`` reads only the candidates' texts (precision mode)."""
        texts = columns.get(self.text_column)
        if texts is None and fetch_texts is not None:
            column = self.text_column

            def texts(ids: np.ndarray) -> Mapping[int, str]:
                return fetch_texts(column, ids)

        return cluster_minhash(
            columns["minhash_bands"],
            eligible,
            texts=texts,
            verify_threshold=self.verify_threshold,
            ngram=self.params.ngram,
            max_fanout=self.max_fanout,
        )

    def __repr__(self) -> str:
        return (
            f"MinHashDeduplicator(text_column={self.text_column!r}, params={self.params!r}, "
            f"verify_threshold={self.verify_threshold!r}, max_fanout={self.max_fanout!r})"
        )


def dedup_dataset(dataset, stage: ExactDeduplicator | MinHashDeduplicator, num_proc: int | None = None):
    """Plain-function form: add ``<stage>_cluster``, ``<stage>_keep`` and ``<stage>_reason`` to a Dataset.

    Args:
        dataset: a ``datasets.Dataset``.
        stage: the dedup stage.
        num_proc: worker processes for the signature map.

    Examples:

    ```python
    >>> ds = dedup_dataset(ds, MinHashDeduplicator())  # doctest: +SKIP
    >>> ds = ds.filter(lambda r: r["minhash_dedup_keep"])  # doctest: +SKIP
    ```
    """
    ds = dataset.map(stage.signature_step(), batched=True, num_proc=num_proc)
    cols = {c: ds[c] for c in stage.columns}

    def fetch(column: str, ids: np.ndarray) -> dict[int, str]:
        return dict(zip(ids.tolist(), ds.select(ids.tolist())[column]))

    cluster, keep = stage.cluster(cols, fetch_texts=fetch)
    reason = np.where(keep, "", f"{stage.name}:duplicate").tolist()
    ds = ds.add_column(f"{stage.name}_cluster", cluster.tolist())
    ds = ds.add_column(f"{stage.name}_keep", keep.tolist())
    return ds.add_column(f"{stage.name}_reason", reason)


def __getattr__(name: str) -> Any:
    if name == "MinHashParams":  # the name before the *Config convention
        warnings.warn("MinHashParams is deprecated; use MinHashConfig", DeprecationWarning, stacklevel=2)
        return MinHashConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
