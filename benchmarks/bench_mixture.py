"""Mixture builder: realised vs target token shares over 100k documents, and overhead vs plain interleaving.

Anchor: ``datasets.interleave_datasets(sources, probabilities=weights)``, i.e. the token targets used as
document probabilities (what the API offers); ours: ``build_mixture(..., unit="tokens")``. Four synthetic
sources with very different document lengths (geometric, means 200/40/400/100 words; whitespace tokens, so
the run measures the sampling logic, not a tokenizer). Time = building + iterating all 100k rows.

    python benchmarks/bench_mixture.py [--num-docs 100000] [--streaming]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import row, write_result  # noqa: E402

WEIGHTS = {"code": 0.3, "math": 0.1, "web": 0.4, "multilingual": 0.2}
MEANS = {"code": 200, "math": 40, "web": 400, "multilingual": 100}
SIZES = {"code": 40_000, "math": 50_000, "web": 45_000, "multilingual": 40_000}


def sources(streaming: bool):
    import numpy as np
    from datasets import Dataset

    out = {}
    for i, (name, mean) in enumerate(MEANS.items()):
        lens = np.random.default_rng(i).geometric(1 / mean, SIZES[name])
        ds = Dataset.from_dict({"text": [" ".join(["w"] * int(k)) for k in lens]})
        out[name] = ds.to_iterable_dataset(num_shards=4) if streaming else ds
    return out


def iterate(ds, streaming: bool) -> int:
    n = 0
    for batch in ds.iter(batch_size=1000):
        n += len(batch["text"])
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-docs", type=int, default=100_000)
    parser.add_argument("--streaming", action="store_true")
    args = parser.parse_args()

    import numpy as np
    from datasets import disable_progress_bars, interleave_datasets

    from hf_addons.data.mixture.mixture import build_mixture, whitespace_counter

    disable_progress_bars()
    srcs = sources(args.streaming)
    names = list(srcs)

    t0 = time.perf_counter()
    plain = interleave_datasets([srcs[s] for s in names], probabilities=[WEIGHTS[s] for s in names], seed=0)
    plain = plain.take(args.num_docs) if args.streaming else plain.select(range(args.num_docs))
    n_plain = iterate(plain, args.streaming)
    plain_s = time.perf_counter() - t0
    # the anchor's realised token shares (counted outside the timing)
    texts = [t for b in plain.iter(batch_size=5000) for t in b["text"]]
    counts = whitespace_counter(texts)
    # which source a text came from: the synthetic sources use one word, so map by length is ambiguous;
    # re-run the same interleave over a source-id column instead
    ids = {s: srcs[s].map(lambda b, s=s: {"sid": [s] * len(b["text"])}, batched=True) for s in names}
    tagged = interleave_datasets([ids[s] for s in names], probabilities=[WEIGHTS[s] for s in names], seed=0)
    tagged = tagged.take(args.num_docs) if args.streaming else tagged.select(range(args.num_docs))
    sid = np.asarray([x for b in tagged.iter(batch_size=5000) for x in b["sid"]])
    plain_share = {s: float(counts[sid == s].sum() / counts.sum()) for s in names}

    t0 = time.perf_counter()
    mix = build_mixture(srcs, WEIGHTS, tokenizer="whitespace", num_docs=args.num_docs, seed=0)
    n_ours = iterate(mix.dataset, args.streaming)
    ours_s = time.perf_counter() - t0
    rep = mix.report()
    assert n_plain == n_ours == rep["docs"], (n_plain, n_ours, rep["docs"])

    kind = "streaming" if args.streaming else "map-style"
    per_source = {
        s: {
            "target": WEIGHTS[s],
            "realised_ours": rep["sources"][s]["realised_token_share"],
            "realised_plain_interleave": plain_share[s],
            "error_pp_ours": rep["sources"][s]["error_pp"],
            "error_pp_plain": 100 * (plain_share[s] - WEIGHTS[s]),
        }
        for s in names
    }
    for s, r in per_source.items():
        print(
            f"{s:>13}: target {r['target']:.3f}  ours {r['realised_ours']:.4f} ({r['error_pp_ours']:+.2f} pp)"
            f"  plain interleave {r['realised_plain_interleave']:.4f} ({r['error_pp_plain']:+.2f} pp)"
        )
    max_plain = max(abs(r["error_pp_plain"]) for r in per_source.values())
    write_result(
        "mixture" + ("-streaming" if args.streaming else ""),
        {
            "num_docs": args.num_docs,
            "kind": kind,
            "plain_s": plain_s,
            "ours_s": ours_s,
            "sources": per_source,
            "report": rep,
        },
        [
            row(
                "data-quality",
                f"max |token share error| over {args.num_docs // 1000}k docs, 4 sources ({kind})",
                anchor="interleave_datasets(probabilities=weights)",
                anchor_value=max_plain,
                ours=rep["max_abs_error_pp"],
                unit="pp",
                target="<= 1 pp",
                met=rep["max_abs_error_pp"] <= 1.0,
            ),
            row(
                "data-quality",
                f"build + iterate {args.num_docs // 1000}k docs ({kind}), seconds",
                anchor="interleave_datasets + iterate",
                anchor_value=plain_s,
                ours=ours_s,
                ratio=ours_s / plain_s,
                unit="s",
                target="overhead reported (token counting pass)",
                met=None,
            ),
        ],
    )


if __name__ == "__main__":
    main()
