"""Near-dedup precision mode: every candidate pair of a bucket is checked, union-find closes the clusters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hf_addons.data.dedup.minhash import (
    _WORD,
    MinHashDeduplicator,
    MinHashParams,
    MinHashSignatures,
    ShingleSets,
    _word_ngram_hashes,
    band_keys,
    bucket_pairs,
    candidate_edges,
    cluster_minhash,
    connected_components,
    jaccard,
    minhash_signatures,
    near_dedup,
    shingles,
    verified_components,
    verify_edges,
    word_codes,
)

VOCAB = [
    f"{w}{i}" for i, w in enumerate("river valley season water stone field light bird road town".split() * 60)
]


def _base(rng: np.random.Generator, n_words: int = 400) -> list[str]:
    return [VOCAB[i] for i in rng.integers(len(VOCAB), size=n_words)]


def _edit(words: list[str], rate: float, rng: np.random.Generator) -> list[str]:
    out = list(words)
    for i in rng.choice(len(out), max(1, int(rate * len(out))), replace=False):
        out[i] = f"edit{rng.integers(1 << 40)}"
    return out


def _chain_corpus(seed: int, families: int = 25, length: int = 7) -> list[str]:
    """Chains of variants (each edits the previous one by ~1.5 %), all rows shuffled."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(families):
        words = _base(rng)
        texts.append(" ".join(words))
        for _ in range(length - 1):
            words = _edit(words, 0.015, rng)
            texts.append(" ".join(words))
    return [texts[i] for i in rng.permutation(len(texts))]


def _true_pairs(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    sets = [shingles(t) for t in texts]
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(texts)), 2)
        if jaccard(sets[i], sets[j]) >= threshold
    }


def _recall(cluster: np.ndarray, pairs: set[tuple[int, int]]) -> float:
    return float(np.mean([cluster[i] == cluster[j] for i, j in pairs]))


def test_word_codes_are_the_python_regex_words():
    texts = [
        "Hello, World! café_au-lait 3.14",
        "  -- leading and trailing --  ",
        "",
        None,
        "Ünïcödé ΣΊΣΥΦΟΣ 東京 ①②",
    ]
    codes, vocab, per_text = word_codes(texts)
    bounds = np.concatenate([[0], np.cumsum(per_text)])
    for k, t in enumerate(texts):
        got = [vocab[c] for c in codes[bounds[k] : bounds[k + 1]]]
        assert got == _WORD.findall((t or "").lower()), t


def test_shingle_sets_give_exact_jaccard():
    texts = _chain_corpus(3, families=3, length=4) + ["short text", "", ""]
    raw, counts = _word_ngram_hashes(texts, 5)
    sets = ShingleSets(raw, counts)
    pairs = np.array(list(itertools.combinations(range(len(texts)), 2)))
    both = sets.jaccard(np.concatenate([pairs, pairs[:, ::-1]]))  # a pair in either order
    ref = [jaccard(shingles(texts[i]), shingles(texts[j])) for i, j in pairs]
    np.testing.assert_allclose(both, ref + ref)
    np.testing.assert_array_equal(sets.at_least(pairs, 0.85), np.asarray(ref) >= 0.85)


def test_pair_of_non_head_rows_is_checked():
    """A bucket whose smallest row is a weak variant: the star rule never checks the two close rows."""
    rng = np.random.default_rng(0)
    words = _base(rng)
    close_a = _edit(words, 0.01, rng)
    close_b = _edit(close_a, 0.01, rng)
    texts = [" ".join(_edit(words, 0.2, rng)), " ".join(close_a), " ".join(close_b)]
    assert jaccard(shingles(texts[1]), shingles(texts[2])) >= 0.85
    assert max(jaccard(shingles(texts[0]), shingles(t)) for t in texts[1:]) < 0.85
    bands = np.array([[7, 100], [7, 101], [7, 102]], np.int64)  # one shared bucket in band 0
    star = connected_components(3, verify_edges(candidate_edges(bands), texts, 0.85))
    assert star[1] != star[2]  # the earlier rule: both checked only against row 0
    cluster, keep = cluster_minhash(bands, texts=texts, verify_threshold=0.85)
    assert cluster.tolist() == [0, 1, 1] and keep.tolist() == [True, True, False]


def test_shuffled_chains_recall_beats_star_rule_and_removals_are_exact():
    texts = _chain_corpus(1)
    truth = _true_pairs(texts, 0.85)
    bands = np.asarray(MinHashSignatures()({"text": texts})["minhash_bands"])
    star = connected_components(len(texts), verify_edges(candidate_edges(bands), texts, 0.85))
    cluster, keep = near_dedup(texts, verify_threshold=0.85)
    np.testing.assert_array_equal(cluster, cluster_minhash(bands, texts=texts, verify_threshold=0.85)[0])
    recovered = [(i, j) for i, j in truth if star[i] != star[j] and cluster[i] == cluster[j]]
    assert len(recovered) >= 3 and _recall(cluster, truth) >= 0.99, (len(recovered), _recall(star, truth))
    # the same clusters as checking every candidate pair (no bucket here exceeds the fan-out cap)
    full = cluster_minhash(bands, texts=texts, verify_threshold=0.85, max_fanout=len(texts))[0]
    np.testing.assert_array_equal(cluster, full)
    # every removal is joined to its kept row by a chain of verified pairs (J >= 0.85)
    comp = connected_components(len(texts), np.array(sorted(truth)))
    removed = np.flatnonzero(~keep)
    assert len(removed) and (comp[removed] == comp[cluster[removed]]).all()


def test_rounds_skip_joined_pairs_without_changing_clusters():
    rng = np.random.default_rng(4)
    tight = [
        " ".join(_edit(words, 0.005, rng)) for words in [_base(rng) for _ in range(10)] for _ in range(8)
    ]
    params = MinHashParams()
    for texts, max_share in ((_chain_corpus(2, families=10), 1.0), (tight, 0.5)):
        bands = band_keys(minhash_signatures(texts, params), params)
        pairs, level, band = bucket_pairs(bands, max_fanout=10_000)
        raw, counts = _word_ngram_hashes(texts, 5)
        sets = ShingleSets(raw, counts)
        every = connected_components(len(texts), pairs[sets.at_least(pairs, 0.85)])
        cluster, checked = verified_components(
            len(texts), pairs, level, lambda p, s=sets: s.at_least(p, 0.85), band
        )
        np.testing.assert_array_equal(cluster, every)
        assert checked <= max_share * len(pairs), (checked, len(pairs))
    # groups of true near-copies cost about one check per row, not one per pair
    assert len(pairs) > 200 and checked < 0.3 * len(pairs), (checked, len(pairs))


def test_fanout_cap_bounds_pairs_and_keeps_tight_groups_whole():
    rng = np.random.default_rng(5)
    words = _base(rng)
    texts = [" ".join(_edit(words, 0.005, rng)) for _ in range(120)]  # all pairwise J >= 0.85
    texts += [" ".join(_base(rng)) for _ in range(80)]  # unrelated rows sharing the same bucket
    bands = np.full((len(texts), 2), 3, np.int64)
    bands[:, 1] = np.arange(len(texts)) + 10  # band 1: singletons
    k = 4
    pairs, level, _ = bucket_pairs(bands, max_fanout=k)
    n = len(texts)
    assert len(pairs) == sum(n - 1 - a for a in range(k)) and level.max() == k - 1
    cluster, keep = cluster_minhash(bands, texts=texts, verify_threshold=0.85, max_fanout=k)
    # the 120 near-copies end in one cluster when a representative is among them (closure)
    assert len(set(cluster[:120].tolist())) == 1 and keep[120:].all()
    full = cluster_minhash(bands, texts=texts, verify_threshold=0.85, max_fanout=n)[0]
    np.testing.assert_array_equal(cluster, full)
    with pytest.raises(ValueError, match="max_fanout"):
        MinHashDeduplicator(max_fanout=0)
