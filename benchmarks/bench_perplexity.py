"""Perplexity scoring: tokens/s of ``PerplexityScorer`` vs the naive per-document loop, and the signal check.

Speed (``--part speed``): the anchor is the loop everyone writes first (tokenise one text, ``model(ids,
labels=ids)``, next) on the same model; ours is length-sorted dynamic batching (fp32, and bf16 which uses the
CPU's AMX/AVX512-BF16 units or the GPU's tensor cores). Documents are article paragraphs (CCNet scores
paragraphs). On CPU the model is the real embedded SmolLM2-135M; on GPU a random-init model of its shape.

Signal (``--part signal``): on the 88 shared article pages, the clean ``articleBody`` must get a lower
perplexity than the raw page text (lxml ``text_content`` without script/style, whitespace collapsed), both cut
to the first ``--signal-tokens`` tokens. Reports AUC = P(ppl(clean) < ppl(raw)) over all pairs.

    python benchmarks/bench_perplexity.py --part speed --n-docs 32
    python benchmarks/bench_perplexity.py --part signal --signal-tokens 192
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT.parent / "shared" / "data" / "article-extraction"


def paragraphs(n: int) -> list[str]:
    truth = json.loads((ARTICLES / "ground-truth.json").read_text())
    paras = [
        p.strip()
        for key in sorted(truth)
        for p in truth[key]["articleBody"].split("\n")
        if len(p.strip()) > 40
    ]
    step = max(1, len(paras) // n)
    return paras[::step][:n]


def naive_loop(model, tok, texts: list[str]) -> list[float]:
    import torch

    out = []
    with torch.inference_mode():
        for text in texts:  # the anchor: one document per forward pass
            ids = tok(text, return_tensors="pt").input_ids.to(model.device)
            out.append(math.exp(model(ids, labels=ids).loss.float().item()))
    return out


def speed(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from hf_addons.data.perplexity import PerplexityScorer
    from hf_addons.models import load_model, load_tokenizer

    cuda = torch.cuda.is_available()
    docs = paragraphs(args.n_docs)
    if cuda:
        from hf_addons.testing import smollm2_shaped_lm

        tok = load_tokenizer()
        models = {"fp32": smollm2_shaped_lm(device="cuda"), "bf16": smollm2_shaped_lm(torch.bfloat16, "cuda")}
        what = "random-init SmolLM2-135M shape"
    else:
        torch.set_num_threads(args.threads)
        fp32, tok = load_model(device="cpu")
        models = {"fp32": fp32, "bf16": load_model(device="cpu", dtype=torch.bfloat16)[0]}
        what = "SmolLM2-135M-Instruct (embedded)"
    n_tokens = int(sum(tok(docs, return_length=True)["length"]))
    naive_loop(models["fp32"], tok, docs[:2])  # warm-up
    t0 = time.perf_counter()
    naive_ppl = naive_loop(models["fp32"], tok, docs)
    naive_s = time.perf_counter() - t0
    results = {"docs": len(docs), "tokens": n_tokens, "model": what, "naive_s": naive_s}
    summary = []
    for name, model in models.items():
        scorer = PerplexityScorer(model, tok, tokens_per_batch=args.tokens_per_batch)
        scorer.score(docs[:4])  # warm-up
        t0 = time.perf_counter()
        ours = scorer.score(docs)
        ours_s = time.perf_counter() - t0
        corr = float(np.corrcoef(np.log(naive_ppl), np.log(ours["perplexity"]))[0, 1])
        results[f"ours_{name}_s"] = ours_s
        results[f"log_ppl_correlation_vs_naive_{name}"] = corr
        target = 20 if cuda else 5
        summary.append(
            {
                "capability": "data-quality",
                "metric": f"perplexity tokens/s ({len(docs)} paragraphs, {name}, {'GPU' if cuda else 'CPU'})",
                "anchor": "per-document loop (fp32)",
                "anchor_value": round(n_tokens / naive_s, 1),
                "ours": round(n_tokens / ours_s, 1),
                "ratio": naive_s / ours_s,
                "unit": "tok/s",
                "target": f">= {target}x",
                "met": naive_s / ours_s >= target,
            }
        )
    write_result("perplexity" + ("-gpu" if cuda else ""), results, summary)


def raw_text(html: bytes) -> str:
    import lxml.html

    # decode first: given bytes without a <meta charset>, lxml assumes Latin-1 and turns UTF-8 into mojibake
    try:
        text = html.decode("utf-8")
    except UnicodeDecodeError:
        text = html.decode("cp1252", errors="replace")
    doc = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", text))
    for bad in doc.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    return re.sub(r"\s+", " ", doc.text_content()).strip()


def auc(clean: list[float], raw: list[float]) -> float:
    import numpy as np

    c, r = np.asarray(clean)[:, None], np.asarray(raw)[None, :]
    return float(((c < r).sum() + 0.5 * (c == r).sum()) / (c.size * r.size))


def signal(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from hf_addons.data.perplexity import PerplexityScorer
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    truth = json.loads((ARTICLES / "ground-truth.json").read_text())
    keys = sorted(truth)[: args.pages]
    clean = [re.sub(r"\s+", " ", truth[k]["articleBody"]).strip() for k in keys]
    raw = [raw_text(gzip.decompress((ARTICLES / "html" / f"{k}.html.gz").read_bytes())) for k in keys]
    dtype = torch.bfloat16 if args.signal_dtype == "bf16" else torch.float32
    model, tok = load_model(device="cuda" if torch.cuda.is_available() else "cpu", dtype=dtype)
    scorer = PerplexityScorer(model, tok, max_tokens=args.signal_tokens)
    t0 = time.perf_counter()
    res = scorer.score(clean + raw)
    secs = time.perf_counter() - t0
    ppl_c, ppl_r = res["perplexity"][: len(keys)], res["perplexity"][len(keys) :]
    value = auc(ppl_c, ppl_r)
    paired = float(np.mean(ppl_c < ppl_r))
    write_result(
        "perplexity_signal",
        {
            "pages": len(keys),
            "max_tokens": args.signal_tokens,
            "dtype": args.signal_dtype,
            "seconds": secs,
            "tokens": int(res["tokens"].sum()),
            "paired_win_rate": paired,
            "median_ppl_clean": float(np.median(ppl_c)),
            "median_ppl_raw": float(np.median(ppl_r)),
            "per_page": [
                {"id": k, "clean": float(c), "raw": float(r)}
                for k, c, r in zip(keys, ppl_c, ppl_r, strict=True)
            ],
        },
        [
            {
                "capability": "data-quality",
                "metric": f"AUC clean body < raw page perplexity ({len(keys)} pages, first {args.signal_tokens} tok)",
                "anchor": "raw page text (lxml text_content)",
                "anchor_value": None,
                "ours": round(value, 3),
                "ratio": None,
                "unit": "AUC",
                "target": ">= 0.9",
                "met": value >= 0.9,
            }
        ],
    )
    print(f"paired win rate {paired:.3f}; median ppl clean {np.median(ppl_c):.1f} raw {np.median(ppl_r):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["speed", "signal", "all"], default="all")
    parser.add_argument("--n-docs", type=int, default=32)
    parser.add_argument("--tokens-per-batch", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pages", type=int, default=88)
    parser.add_argument("--signal-tokens", type=int, default=192)
    parser.add_argument("--signal-dtype", choices=["fp32", "bf16"], default="bf16")
    args = parser.parse_args()
    if args.part in ("speed", "all"):
        speed(args)
    if args.part in ("signal", "all"):
        signal(args)


if __name__ == "__main__":
    main()
