"""Near-dedup: our vectorised MinHash + LSH + union-find vs the plain datasketch recipe.

Corpus: the 88 ground-truth article bodies of ../shared/data/article-extraction, each with near-duplicates
at controlled word-edit rates (0.2 % .. 30 %), replicated with distinct tags to ``--copies`` families.
Truth: the exact Jaccard of word 5-gram shingle sets for every pair inside a family (pairs across
families share no text; the LSH candidates confirm it). Same parameters on both sides: 5-grams, 14 bands x
8 rows (datatrove). Plain recipe: one ``MinHash`` per doc, ``update`` per shingle, ``MinHashLSH.insert``
then ``query`` per doc. Single process each; the machine is shared, so the ratio is what counts.
Run:  python benchmarks/bench_dedup.py [--copies 4]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "article-extraction"
EDIT_RATES = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3)
THRESHOLD = 0.85


def build_corpus(copies: int, seed: int = 0) -> tuple[list[str], list[int]]:
    truth = json.loads((DATA / "ground-truth.json").read_text())
    bases = [v["articleBody"] for v in truth.values() if len(v["articleBody"].split()) >= 100]
    rng = np.random.default_rng(seed)
    texts, family = [], []
    for c in range(copies):
        for b, base in enumerate(bases):
            words = base.split()
            words = [f"c{c}{w}" if i % 7 == 0 else w for i, w in enumerate(words)] if c else words
            fam = c * len(bases) + b
            texts.append(" ".join(words))
            family.append(fam)
            for rate in EDIT_RATES:
                w = list(words)
                for i in rng.choice(len(w), max(1, int(rate * len(w))), replace=False):
                    w[i] = f"edit{rng.integers(1 << 30)}"
                texts.append(" ".join(w))
                family.append(fam)
    return texts, family


def true_pairs(texts: list[str], family: list[int]) -> dict[tuple[int, int], float]:
    from hf_addons.data.dedup.minhash import jaccard, shingles

    sets = [shingles(t) for t in texts]
    by_family: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        by_family.setdefault(f, []).append(i)
    return {
        (i, j): jaccard(sets[i], sets[j]) for m in by_family.values() for i, j in itertools.combinations(m, 2)
    }


def plain_recipe(texts: list[str]) -> tuple[set[tuple[int, int]], float]:
    from datasketch import MinHash, MinHashLSH

    from hf_addons.data.dedup.minhash import shingles

    t0 = time.perf_counter()
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    sigs = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=112)
        for s in shingles(t):
            m.update(s.encode("utf-8"))
        lsh.insert(i, m)
        sigs.append(m)
    pairs = {(min(i, j), max(i, j)) for i, m in enumerate(sigs) for j in lsh.query(m) if j != i}
    return pairs, time.perf_counter() - t0


def _signatures(texts: list[str]) -> np.ndarray:
    from hf_addons.data.dedup.minhash import minhash_signatures

    return minhash_signatures(texts)


def ours(texts: list[str], verify: float | None, procs: int = 1):
    """1 process: ``near_dedup`` (shingles hashed once). ``procs`` > 1: signatures in worker processes (pool
    start included), then bands, edges, the Jaccard check and components in the parent."""
    from hf_addons.data.dedup.minhash import (
        MinHashConfig,
        band_keys,
        candidate_edges,
        connected_components,
        near_dedup,
        verify_edges,
    )

    t0 = time.perf_counter()
    if procs == 1:
        cluster, _ = near_dedup(texts, verify_threshold=verify)
        return None, cluster, time.perf_counter() - t0
    from concurrent.futures import ProcessPoolExecutor

    chunks = [texts[i : i + 256] for i in range(0, len(texts), 256)]
    with ProcessPoolExecutor(procs) as pool:
        sig = np.concatenate(list(pool.map(_signatures, chunks)))
    edges = candidate_edges(band_keys(sig, MinHashConfig()))
    if verify is not None:
        edges = verify_edges(edges, texts, verify)
    cluster = connected_components(len(texts), edges)
    return edges, cluster, time.perf_counter() - t0


def edges_of(texts: list[str], verify: float | None) -> np.ndarray:
    """The candidate (or verified) pairs, for the precision numbers (not timed)."""
    from hf_addons.data.dedup.minhash import (
        MinHashConfig,
        band_keys,
        candidate_edges,
        minhash_signatures,
        verify_edges,
    )

    edges = candidate_edges(band_keys(minhash_signatures(texts), MinHashConfig()))
    return verify_edges(edges, texts, verify) if verify is not None else edges


def pr(pred_pairs: set[tuple[int, int]], jac: dict[tuple[int, int], float]) -> dict[str, float]:
    positives = {p for p, j in jac.items() if j >= THRESHOLD}
    tp = len(pred_pairs & positives)
    return {
        "precision": tp / len(pred_pairs) if pred_pairs else 1.0,
        "recall": tp / len(positives) if positives else 1.0,
        "pred_pairs": len(pred_pairs),
        "true_pairs": len(positives),
    }


def cluster_pairs(cluster: np.ndarray) -> set[tuple[int, int]]:
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(cluster.tolist()):
        groups.setdefault(c, []).append(i)
    return {p for m in groups.values() if len(m) > 1 for p in itertools.combinations(m, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data missing: {DATA}")
    texts, family = build_corpus(args.copies)
    jac = true_pairs(texts, family)
    print(f"{len(texts)} docs, {sum(j >= THRESHOLD for j in jac.values())} pairs with Jaccard >= {THRESHOLD}")

    plain_pairs, plain_s = plain_recipe(texts)
    ours(texts[:50], None)  # import/warm-up outside the timing (the plain recipe imported datasketch too)
    _, cluster, ours_s = ours(texts, None)
    _, v_cluster, ours_v_s = ours(texts, THRESHOLD)
    edges, v_edges = edges_of(texts, None), edges_of(texts, THRESHOLD)
    _, p2_cluster, ours_2p_s = ours(texts, THRESHOLD, procs=2)
    assert (p2_cluster == v_cluster).all()
    cross = sum(family[a] != family[b] for a, b in plain_pairs)
    res = {
        "plain_recipe": {**pr(plain_pairs, jac), "seconds": plain_s, "cross_family_candidates": cross},
        "ours_lsh": {**pr({tuple(e) for e in edges.tolist()}, jac), "seconds": ours_s},
        "ours_precision_mode": {**pr({tuple(e) for e in v_edges.tolist()}, jac), "seconds": ours_v_s},
        "ours_precision_mode_2proc_seconds": ours_2p_s,
        "ours_clusters_recall": pr(cluster_pairs(v_cluster), jac)["recall"],
    }
    # recall of the clusters: a true pair counts when both docs land in one cluster (edges are a spanning
    # star per bucket, so pairs are linked through the bucket head)
    res["ours_lsh"]["recall"] = pr(cluster_pairs(cluster), jac)["recall"]
    res["ours_precision_mode"]["recall"] = res["ours_clusters_recall"]
    n = len(texts)
    for k in ("plain_recipe", "ours_lsh", "ours_precision_mode"):
        r = res[k]
        print(f"{k:>20}: P={r['precision']:.4f} R={r['recall']:.4f} {n / r['seconds']:.0f} docs/s")
    print(f"  precision mode, 2 processes: {n / ours_2p_s:.0f} docs/s ({plain_s / ours_2p_s:.1f}x)")
    pm, plain = res["ours_precision_mode"], res["plain_recipe"]
    anchor = "datasketch MinHash.update + MinHashLSH"

    def speed_row(metric: str, seconds: float) -> dict:
        ratio = plain_s / seconds
        return _row(metric, anchor, n / plain_s, n / seconds, ratio, "docs/s", ">= 10x", ratio >= 10)

    write_result(
        "dedup",
        {"docs": n, "edit_rates": EDIT_RATES, "threshold": THRESHOLD, **res},
        [
            speed_row(f"near-dedup docs/s ({n} docs, 14x8 LSH)", ours_s),
            speed_row("near-dedup docs/s, precision mode (true-Jaccard check), 1 process", ours_v_s),
            speed_row("near-dedup docs/s, precision mode, 2 processes (2 cores)", ours_2p_s),
            _row(
                f"near-dedup recall, pairs with Jaccard >= {THRESHOLD} (precision mode)",
                "datasketch MinHashLSH query",
                plain["recall"],
                pm["recall"],
                None,
                "recall",
                ">= 0.98",
                pm["recall"] >= 0.98,
            ),
            _row(
                "near-dedup precision of duplicate pairs (precision mode)",
                "datasketch MinHashLSH query",
                plain["precision"],
                pm["precision"],
                None,
                "precision",
                ">= 0.99",
                pm["precision"] >= 0.99,
            ),
        ],
    )


def _row(metric, anchor, anchor_value, ours, ratio, unit, target, met) -> dict:
    """One summary row in ``_common.write_result``'s format."""
    return {
        "capability": "data-prepare",
        "metric": metric,
        "anchor": anchor,
        "anchor_value": round(anchor_value, 4 if unit != "docs/s" else 1),
        "ours": round(ours, 4 if unit != "docs/s" else 1),
        "ratio": None if ratio is None else round(ratio, 2),
        "unit": unit,
        "target": target,
        "met": bool(met),
    }


if __name__ == "__main__":
    main()
