"""Article extraction: plain trafilatura vs our HtmlToMarkdown (trafilatura + structural de-noising).

Data: ../shared/data/article-extraction (88 real pages with ground-truth bodies). Metric (from the shared
README): tokens are ``\\w+`` matches, 4-gram shingle multisets, per-document TP/FP/FN normalised to sum 1,
precision and recall averaged over documents, F1 from the averages. Our Markdown is stripped to text first.
Speed: pages/s of each extractor on the same pages in the same process, alternating rounds (the machine is
shared, so the ratio is what counts). Run:  python benchmarks/bench_data_extract.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "article-extraction"


def shingles(text: str) -> Counter:
    toks = re.findall(r"\w+", text)
    return Counter(tuple(toks[i : i + 4]) for i in range(len(toks) - 3))


def score(preds: dict[str, str], truth: dict[str, dict]) -> dict[str, float]:
    ps, rs = [], []
    for k, v in truth.items():
        pred, gold = shingles(preds[k]), shingles(v["articleBody"])
        tp, fp, fn = sum((pred & gold).values()), sum((pred - gold).values()), sum((gold - pred).values())
        total = tp + fp + fn
        if total == 0:
            ps.append(1.0)
            rs.append(1.0)
            continue
        tp, fp, fn = tp / total, fp / total, fn / total
        ps.append(tp / (tp + fp) if tp + fp else 0.0)
        rs.append(tp / (tp + fn) if tp + fn else 0.0)
    p, r = sum(ps) / len(ps), sum(rs) / len(rs)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data missing: {DATA}")
    import trafilatura

    from hf_addons.data.extract.html import HtmlToMarkdown, markdown_to_text

    truth = json.loads((DATA / "ground-truth.json").read_text())
    pages = {k: gzip.open(DATA / "html" / f"{k}.html.gz").read() for k in truth}
    ours_step = HtmlToMarkdown()

    def plain(k: str) -> str:
        return trafilatura.extract(pages[k]) or ""

    def ours(k: str) -> str:
        return markdown_to_text(ours_step.extract_one(pages[k], truth[k]["url"]).get("text", ""))

    times: dict[str, list[float]] = {"plain": [], "ours": []}
    preds: dict[str, dict[str, str]] = {}
    for _ in range(args.rounds):
        for name, fn in (("plain", plain), ("ours", ours)):
            t0 = time.perf_counter()
            preds[name] = {k: fn(k) for k in truth}
            times[name].append(time.perf_counter() - t0)
    n = len(truth)
    speed = {name: n / min(ts) for name, ts in times.items()}
    scores = {name: score(p, truth) for name, p in preds.items()}
    for name in ("plain", "ours"):
        s = scores[name]
        print(
            f"{name:>5}: P={s['precision']:.4f} R={s['recall']:.4f} F1={s['f1']:.4f}  {speed[name]:.1f} pages/s"
        )
    ratio = speed["ours"] / speed["plain"]
    write_result(
        "data_extract",
        {"pages": n, "rounds": args.rounds, "seconds": times, "scores": scores, "pages_per_s": speed},
        [
            {
                "capability": "data-prepare",
                "metric": f"article extraction F1 ({n} pages, 4-gram shingles)",
                "anchor": "trafilatura.extract (defaults)",
                "anchor_value": round(scores["plain"]["f1"], 4),
                "ours": round(scores["ours"]["f1"], 4),
                "ratio": round(scores["ours"]["f1"] / scores["plain"]["f1"], 4),
                "unit": "F1",
                "target": ">= 0.965",
                "met": scores["ours"]["f1"] >= 0.965,
            },
            {
                "capability": "data-prepare",
                "metric": "extraction pages/s (1 process)",
                "anchor": "trafilatura.extract (defaults)",
                "anchor_value": round(speed["plain"], 1),
                "ours": round(speed["ours"], 1),
                "ratio": round(ratio, 3),
                "unit": "pages/s",
                "target": ">= 0.9x plain",
                "met": ratio >= 0.9,
            },
        ],
    )


if __name__ == "__main__":
    main()
