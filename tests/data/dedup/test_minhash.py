"""Exact and MinHash deduplication (``hf_addons.data.dedup.minhash``)."""

from __future__ import annotations

import numpy as np
import pytest
from data.helpers import ARTICLE, GOOD, fold32, with_edits

from hf_addons.data.dedup.minhash import (
    ExactDeduplicator,
    MinHashConfig,
    MinHashDeduplicator,
    MinHashSignatures,
    cluster_minhash,
    dedup_dataset,
    jaccard,
    minhash_signatures,
    near_dedup,
    shingles,
)


def test_minhash_signatures_equal_datasketch():
    from datasketch import MinHash

    from hf_addons.data.dedup.minhash import _word_ngram_hashes

    texts = [GOOD, ARTICLE, "short", ""]
    # "sha1": bit-identical to MinHash.update per shingle string
    sig = minhash_signatures(texts, MinHashConfig(hash="sha1"))
    for text, row in zip(texts, sig):
        m = MinHash(num_perm=112)
        for s in shingles(text):
            m.update(s.encode("utf-8"))
        np.testing.assert_array_equal(m.hashvalues, row)
    # "words" (default): datasketch's permutations over our vectorised n-gram hashes
    fast = minhash_signatures(texts)
    raw64, counts = _word_ngram_hashes(texts, 5)
    raw = fold32(raw64)  # datasketch's 32-bit input hashes
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i, row in enumerate(fast):
        m = MinHash(num_perm=112, hashfunc=int)
        for h in raw[bounds[i] : bounds[i + 1]].tolist():
            m.update(h)
        np.testing.assert_array_equal(m.hashvalues, row)
    # and its Jaccard estimate tracks the true shingle Jaccard
    other = with_edits(ARTICLE, 0.03, 5)
    est = minhash_signatures([ARTICLE, other])
    true = jaccard(shingles(ARTICLE), shingles(other))
    assert abs((est[0] == est[1]).mean() - true) < 0.12


def test_near_dedup_finds_clusters_and_precision_mode():
    bases = [" ".join(f"w{d}_{i}" for i in range(300)) for d in range(6)]
    texts = bases + [
        with_edits(bases[0], 0.01, 1),
        with_edits(bases[1], 0.01, 2),
        with_edits(bases[2], 0.3, 3),
    ]
    bands = MinHashSignatures()({"text": texts})["minhash_bands"]
    cluster, keep = cluster_minhash(bands)
    assert cluster.tolist()[6:8] == [0, 1] and keep.tolist()[:6] == [True] * 6
    assert keep[8]  # 30 % of words edited: Jaccard ~0.2, not a duplicate
    # precision mode: a threshold above the variants' true Jaccard undoes the merge
    j = jaccard(shingles(texts[0]), shingles(texts[6]))
    assert 0.8 < j < 0.97
    cluster_v, keep_v = cluster_minhash(bands, texts=texts, verify_threshold=min(1.0, j + 0.01))
    assert keep_v[6] and cluster_v[6] == 6
    # rows not eligible are not judged
    eligible = np.ones(len(texts), bool)
    eligible[0] = False
    _, keep_e = cluster_minhash(bands, eligible)
    assert keep_e[6] and not keep_e[7]
    with pytest.raises(ValueError, match="needs the texts"):
        cluster_minhash(bands, verify_threshold=0.9)
    # the in-memory function (shingles hashed once) agrees with the step + global pass
    for thr in (None, 0.5, min(1.0, j + 0.01)):
        ref = cluster_minhash(bands, texts=texts, verify_threshold=thr)
        got = near_dedup(texts, verify_threshold=thr)
        np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(near_dedup(texts, MinHashConfig(hash="sha1"))[1], keep)


def test_dedup_dataset_plain_function():
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["Hello,  World!", "hello world", "other text"]})
    out = dedup_dataset(ds, ExactDeduplicator())
    assert out["exact_dedup_keep"] == [True, False, True] and out["exact_dedup_cluster"] == [0, 0, 2]
    assert out["exact_dedup_reason"][1] == "exact_dedup:duplicate"
    texts = _corpus()
    near = dedup_dataset(
        datasets.Dataset.from_dict({"text": texts}), MinHashDeduplicator(verify_threshold=0.7)
    )
    assert (
        near["minhash_dedup_keep"]
        == cluster_minhash(
            MinHashSignatures()({"text": texts})["minhash_bands"], texts=texts, verify_threshold=0.7
        )[1].tolist()
    )
    assert not all(near["minhash_dedup_keep"])
    with pytest.raises(ValueError, match="verify_threshold"):
        MinHashDeduplicator(verify_threshold=1.5)
    assert abs(MinHashConfig().threshold() - 0.719) < 0.01


def _corpus():
    # distinct documents (word order shuffled: shared 5-grams are rare) with the same word statistics
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.permutation(GOOD.split())) + "." for _ in range(10)]
    return docs + [docs[0], docs[1].upper(), with_edits(docs[2], 0.02, 7), "short junk", "# " * 80]


def test_minhash_params_is_a_deprecated_alias_of_minhash_config():
    import hf_addons.data
    from hf_addons.data.dedup import minhash

    with pytest.warns(DeprecationWarning, match="MinHashParams is deprecated; use MinHashConfig"):
        assert hf_addons.data.MinHashParams is MinHashConfig
    with pytest.warns(DeprecationWarning):
        assert minhash.MinHashParams is MinHashConfig
