"""Perplexity scoring: tokens/s of ``PerplexityScorer`` vs the naive per-document loop, and the signal check.

Speed (``--part speed``): the anchor is the loop everyone writes first (tokenise one text, ``model(ids,
labels=ids)``, next) in fp32 on the same model. Ours is length-sorted, planned batching with the LM head run only
on scored rows, in four variants (``VARIANTS``): the default a user gets (fp32, exact, plus the fused Llama
decoder on CPU), bf16 eager, fp32 fused and fp32 eager. The loop and every variant
are timed in turn ``--repeats`` times (interleaved) and the median ratio is reported; setup (probe check and
``torch.compile``, the first call) is reported apart. On CPU the model is the real embedded SmolLM2-135M; on GPU
a random-init model of its shape. Also checked: ours in fp32 with the loop's definition (no BOS) equals the loop
to rounding, and how far the fused and bf16 scores move from fp32 eager (log-perplexity Pearson, max relative).

Precision (``--part precision``): per-document relative perplexity error of bf16 (eager, fused) and fp32 fused
against fp32 eager, the default. Compile (``--part compile``): the decoder compiled whole by ``torch.compile``
against the fused decoder, same scorer around both (``results/perplexity_compile-cpu-2c.json``). Families
(``--part families``): fused vs eager on random-init Llama and Qwen3 models of SmolLM2's shape
(``results/perplexity_families-cpu-2c.json``). Ceiling (``--part ceiling``): the loop's FLOP rate against this
CPU's fp32 GEMM peak, i.e. the most any exact fp32 scorer can gain over it here
(``results/perplexity_ceiling-cpu-2c.json``).

Signal (``--part signal``): on the 88 shared article pages, the clean ``articleBody`` must get a lower
perplexity than the raw page text. Reports AUC = P(ppl(clean) < ppl(raw)) over all clean x raw pairs, for
every mode in ``MODES``: the raw text either as a crawler's WET file has it (one line per block element) or
with all whitespace collapsed, scored as one document or per line (CCNet), up to N tokens per page.

    flock /tmp/hf-bench.lock python benchmarks/bench_perplexity.py --part speed --n-docs 64
    nice -n 19 python benchmarks/bench_perplexity.py --part signal --modes line-ccnet-512
    nice -n 10 python benchmarks/bench_perplexity.py --part precision --n-docs 64
    flock /tmp/hf-bench.lock python benchmarks/bench_perplexity.py --part compile --n-docs 64 --repeats 3
    flock /tmp/hf-bench.lock python benchmarks/bench_perplexity.py --part families --n-docs 64 --repeats 3
    flock /tmp/hf-bench.lock python benchmarks/bench_perplexity.py --part ceiling --n-docs 64 --repeats 5
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
from _common import article_truth, interleaved_times, row, timer, write_result  # noqa: E402

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


# (name, dtype, fast): "default" is the scorer's default dtype with its steady-state path: fast=None scores
# eager for its first FAST_PATH_AFTER_S seconds (the "bf16-eager" row), then fused, which fast=True gives at once
VARIANTS = (
    ("default", None, True),
    ("bf16-eager", "bf16", False),
    ("fp32-fused", "fp32", True),
    ("fp32-eager", "fp32", False),
)


def speed(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from hf_addons.data.scoring.lm import resolve_device_dtype
    from hf_addons.data.scoring.perplexity import FAST_PATH_AFTER_S, PerplexityScorer
    from hf_addons.hardware import cpu_has_fast_bf16
    from hf_addons.models import load_model, load_tokenizer

    cuda = torch.cuda.is_available()
    docs = paragraphs(args.n_docs)
    default_dtype = resolve_device_dtype(None, PerplexityScorer.default_dtype)[1]
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
    default = "bf16" if default_dtype == torch.bfloat16 else "fp32"
    n_tokens = int(sum(tok(docs, return_length=True)["length"]))
    results: dict = {
        "docs": len(docs),
        "tokens": n_tokens,
        "model": what,
        "threads": torch.get_num_threads(),
        "cpu_has_fast_bf16": cpu_has_fast_bf16(),
        "default_dtype": default,
        "repeats": args.repeats,
    }
    scorers = {}
    for name, dtype, fast in VARIANTS:  # setup = first call: probe check and torch.compile (once per process)
        model = models[dtype or default]
        fused = "auto" if cuda and name == "default" else fast  # GPUs: the scorer's own choice (eager)
        scorers[name] = PerplexityScorer(model, tok, tokens_per_batch=args.tokens_per_batch, fused=fused)
        t0 = time.perf_counter()
        scorers[name].score(docs[:4])
        results[f"{name}_setup_s"] = time.perf_counter() - t0
        results[f"{name}_path"] = scorers[name].fast_path
        print(f"{name}: setup {results[f'{name}_setup_s']:.1f} s, {scorers[name].fast_path}", flush=True)
    naive_loop(models["fp32"], tok, docs[:2])  # warm-up
    times: dict[str, list[float]] = {"naive": [], **{name: [] for name in scorers}}
    ppl: dict[str, np.ndarray] = {}
    for r in range(args.repeats):  # interleaved, so a burst of load on the shared machine hits all alike
        t0 = time.perf_counter()
        naive_ppl = np.asarray(naive_loop(models["fp32"], tok, docs))
        times["naive"].append(time.perf_counter() - t0)
        for name, scorer in scorers.items():
            t0 = time.perf_counter()
            ppl[name] = scorer.score(docs)["perplexity"]
            times[name].append(time.perf_counter() - t0)
        print(f"repeat {r}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    results["seconds"] = times
    results["ratios_per_repeat"] = {
        name: [n / o for n, o in zip(times["naive"], times[name], strict=True)] for name in scorers
    }
    # same definition as the loop (no BOS, first token unscored): fp32 must agree with it to rounding
    for name in ("fp32-eager", "fp32-fused"):
        same = PerplexityScorer(models["fp32"], tok, add_bos=False, fused=name.endswith("fused"))
        diff = np.abs(same.score(docs[:16])["perplexity"] / naive_ppl[:16] - 1)
        results[f"max_rel_diff_{name}_vs_naive_same_definition"] = float(np.max(diff))

    def agree(a: str, b: str) -> None:  # how much a faster path moves the scores
        results[f"log_ppl_pearson_{a}_vs_{b}"] = float(np.corrcoef(np.log(ppl[a]), np.log(ppl[b]))[0, 1])
        results[f"max_rel_diff_{a}_vs_{b}"] = float(np.max(np.abs(ppl[a] / ppl[b] - 1)))

    for a, b in (("default", "bf16-eager"), ("default", "fp32-eager"), ("bf16-eager", "fp32-eager")):
        agree(a, b)
    agree("fp32-fused", "fp32-eager")
    summary = []
    target = 20 if cuda else 5
    where = "GPU" if cuda else "CPU" if args.threads == 2 else f"CPU, {args.threads} thread(s)"
    naive_s = float(np.median(times["naive"]))
    for name in scorers:
        ours_s = float(np.median(times[name]))
        ratio = float(np.median(results["ratios_per_repeat"][name]))
        label = (
            f"ours default ({default}, {scorers[name].fast_path.split(' (')[0]}: fused='auto' after "
            f"{FAST_PATH_AFTER_S:g} s of scoring, or fused=True)"
            if name == "default"
            else name
        )
        summary.append(
            row(
                "data-quality",
                f"perplexity tokens/s ({len(docs)} paragraphs, {label} vs loop fp32, {where}, "
                f"median of {args.repeats} interleaved)",
                anchor="per-document loop (fp32)",
                anchor_value=n_tokens / naive_s,
                ours=n_tokens / ours_s,
                ratio=ratio,
                unit="tok/s",
                target=f">= {target}x",
                met=ratio >= target,
            )
        )
    print(
        "numerics: "
        + ", ".join(f"{k}={v:.3g}" for k, v in results.items() if k.startswith(("log_ppl", "max_rel")))
    )
    threads = "" if cuda or args.threads == 2 else f"_threads{args.threads}"
    write_result("perplexity" + ("-gpu" if cuda else threads), results, summary)


BLOCKS = (
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul title option button label"
).split()


def raw_text(html: bytes, lines: bool = True) -> str:
    """The page's visible text as a crawler's WET file has it (script/style dropped): one line per block
    element when ``lines``, else all whitespace collapsed to single spaces (the earlier benchmark's form)."""
    import lxml.html

    # decode first: given bytes without a <meta charset>, lxml assumes Latin-1 and turns UTF-8 into mojibake
    try:
        text = html.decode("utf-8")
    except UnicodeDecodeError:
        text = html.decode("cp1252", errors="replace")
    doc = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", text))
    for bad in doc.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    if not lines:
        return re.sub(r"\s+", " ", doc.text_content()).strip()
    for el in doc.iter(*BLOCKS):
        el.tail = "\n" + (el.tail or "")
    return clean_lines(doc.text_content())


def clean_lines(text: str) -> str:
    """Whitespace collapsed inside lines, empty lines dropped."""
    out = (re.sub(r"\s+", " ", ln).strip() for ln in text.split("\n"))
    return "\n".join(ln for ln in out if ln)


def auc(clean: list[float], raw: list[float]) -> float:
    import numpy as np

    c, r = np.asarray(clean)[:, None], np.asarray(raw)[None, :]
    return float(((c < r).sum() + 0.5 * (c == r).sum()) / (c.size * r.size))


# (name, text form, scorer unit, max tokens per document): every mode tried is reported
MODES = {
    "line-ccnet-512": ("lines", "line", 512),
    "document-lines-512": ("lines", "document", 512),
    "document-collapsed-64": ("collapsed", "document", 64),
    "document-collapsed-512": ("collapsed", "document", 512),
}


def signal(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from hf_addons.data.scoring.lm import resolve_device_dtype
    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    truth = article_truth()
    keys = list(truth)[: args.pages]
    pages = [gzip.decompress((ARTICLES / "html" / f"{k}.html.gz").read_bytes()) for k in keys]
    texts = {
        "collapsed": (
            [re.sub(r"\s+", " ", truth[k]["articleBody"]).strip() for k in keys],
            [raw_text(h, lines=False) for h in pages],
        ),
        "lines": ([clean_lines(truth[k]["articleBody"]) for k in keys], [raw_text(h) for h in pages]),
    }
    device, dtype = resolve_device_dtype(None, None if args.signal_dtype == "default" else args.signal_dtype)
    model, tok = load_model(device=device, dtype=dtype)
    modes = args.modes.split(",") if args.modes else list(MODES)
    results: dict = {"pages": len(keys), "dtype": str(model.dtype), "modes": {}}
    summary = []
    for mode in modes:
        form, unit, max_tokens = MODES[mode]
        clean, raw = texts[form]
        scorer = PerplexityScorer(model, tok, max_tokens=max_tokens, unit=unit)
        t0 = time.perf_counter()
        res = scorer.score(clean + raw)
        secs = time.perf_counter() - t0
        ppl_c, ppl_r = res["perplexity"][: len(keys)], res["perplexity"][len(keys) :]
        value = auc(ppl_c, ppl_r)
        results["modes"][mode] = {
            "text": form,
            "unit": unit,
            "max_tokens": max_tokens,
            "auc": value,
            "paired_win_rate": float(np.mean(ppl_c < ppl_r)),
            "median_ppl_clean": float(np.median(ppl_c)),
            "median_ppl_raw": float(np.median(ppl_r)),
            "tokens": int(res["tokens"].sum()),
            "seconds": secs,
            "per_page": [
                {"id": k, "clean": float(c), "raw": float(r)}
                for k, c, r in zip(keys, ppl_c, ppl_r, strict=True)
            ],
        }
        print(f"{mode}: AUC {value:.3f} paired {np.mean(ppl_c < ppl_r):.3f} ({secs:.0f} s)", flush=True)
        summary.append(
            row(
                "data-quality",
                f"AUC ppl(clean body) < ppl(raw page), {len(keys)} pages, {mode}",
                anchor="raw page text with boilerplate",
                anchor_value=None,
                ours=value,
                unit="AUC",
                target=">= 0.9",
                met=value >= 0.9,
            )
        )
        write_result(args.name, results, summary)  # after every mode: a long run keeps its part


def precision(args: argparse.Namespace) -> None:
    """How far bf16 moves each document's perplexity from fp32 (the default), on the real model and text."""
    import numpy as np
    import torch

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs = paragraphs(args.n_docs)
    fp32, tok = load_model(device="cpu")
    bf16 = load_model(device="cpu", dtype=torch.bfloat16)[0]
    kw = dict(tokens_per_batch=args.tokens_per_batch)
    ref = PerplexityScorer(fp32, tok, fused=False, **kw).score(docs)["perplexity"]
    results: dict = {
        "docs": len(docs),
        "model": "SmolLM2-135M-Instruct (embedded)",
        "reference": "fp32 eager",
    }
    summary = []
    for name, model, fused in (
        ("fp32-fused", fp32, True),
        ("bf16-eager", bf16, False),
        ("bf16-fused", bf16, True),
    ):
        got = PerplexityScorer(model, tok, fused=fused, **kw).score(docs)["perplexity"]
        rel = np.abs(got / ref - 1)
        results[name] = {
            "median_rel_error": float(np.median(rel)),
            "p90_rel_error": float(np.quantile(rel, 0.9)),
            "max_rel_error": float(np.max(rel)),
            "log_ppl_pearson": float(np.corrcoef(np.log(got), np.log(ref))[0, 1]),
        }
        print(f"{name}: " + ", ".join(f"{k}={v:.3g}" for k, v in results[name].items()), flush=True)
        summary.append(
            row("data-quality", f"perplexity {name} vs fp32 eager, median / max relative error per document "
                f"({len(docs)} paragraphs)", anchor="fp32 eager (default)", anchor_value=None,
                ours=results[name]["median_rel_error"], unit="relative error", target="(diagnostic)", met=None,
                digits=4)
        )  # fmt: skip
    write_result("perplexity_precision", results, summary)


def compile_speed(args: argparse.Namespace) -> None:
    """Is ``torch.compile`` of the model's decoder within 10% of the fused decoder? Same scorer machinery
    (planned batches, head on scored rows only) around either: the decoder compiled whole (``dynamic=True``,
    Inductor) with ``fused=False``, or ``fused=True``. Interleaved repeats after a full warm-up pass each (so
    every batch shape is compiled before timing); the eager scorer is timed alongside as the reference."""
    import copy

    import numpy as np
    import torch

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs = paragraphs(args.n_docs)
    n_tokens = None
    results: dict = {"docs": len(docs), "threads": args.threads, "repeats": args.repeats, "dtypes": {}}
    summary = []
    for dtype_name in args.compile_dtypes.split(","):
        dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
        model, tok = load_model(device="cpu", dtype=dtype)
        n_tokens = n_tokens or int(sum(tok(docs, return_length=True)["length"]))
        whole = copy.deepcopy(model)
        whole.get_decoder().compile(dynamic=True)  # in place: the scorer's decoder call runs compiled
        scorers = {
            "eager": PerplexityScorer(model, tok, fused=False),
            "fused": PerplexityScorer(model, tok, fused=True),
            "compiled-decoder": PerplexityScorer(whole, tok, fused=False),
        }
        entry: dict = {"setup_s": {}, "seconds": {k: [] for k in scorers}, "paths": {}}
        ppl = {}
        for name, scorer in scorers.items():  # warm-up: every batch shape once (compiles included)
            t0 = time.perf_counter()
            ppl[name] = scorer.score(docs)["perplexity"]
            entry["setup_s"][name] = time.perf_counter() - t0
            entry["paths"][name] = scorer.fast_path
            print(
                f"{dtype_name} {name}: warm-up {entry['setup_s'][name]:.1f} s, {scorer.fast_path}", flush=True
            )
        for r in range(args.repeats):
            for name, scorer in scorers.items():
                t0 = time.perf_counter()
                scorer.score(docs)
                entry["seconds"][name].append(time.perf_counter() - t0)
            print(f"{dtype_name} repeat {r}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in entry["seconds"].items()),
                  flush=True)  # fmt: skip
        med = {k: float(np.median(v)) for k, v in entry["seconds"].items()}
        entry["median_s"] = med
        entry["compiled_over_fused_time"] = med["compiled-decoder"] / med["fused"]
        entry["max_rel_diff_compiled_vs_eager"] = float(
            np.max(np.abs(ppl["compiled-decoder"] / ppl["eager"] - 1))
        )
        entry["max_rel_diff_fused_vs_eager"] = float(np.max(np.abs(ppl["fused"] / ppl["eager"] - 1)))
        results["dtypes"][dtype_name] = entry
        print(
            f"{dtype_name}: compiled decoder takes {entry['compiled_over_fused_time']:.2f}x the fused time",
            flush=True,
        )
        for name in ("fused", "compiled-decoder"):
            summary.append(
                row("data-quality", f"perplexity tokens/s, {dtype_name} {name} vs eager scorer ({len(docs)} "
                    f"paragraphs, CPU {args.threads} threads, median of {args.repeats})", anchor="eager scorer",
                    anchor_value=n_tokens / med["eager"], ours=n_tokens / med[name], ratio=med["eager"] / med[name],
                    unit="tok/s", target="(fused vs compile decision: within 10%?)", met=None)
                | {"headline": False}  # a design decision's numbers: the README keeps the speed target's row
            )  # fmt: skip
        del whole, model, scorers
    results["tokens"] = n_tokens
    write_result("perplexity_compile", results, summary)


def families(args: argparse.Namespace) -> None:
    """Does the fused decoder pay for Qwen3 (per-head q/k RMSNorms) as for Llama? Random-init models of
    SmolLM2-135M's shape in both families (Qwen3: the same widths, head_dim 64, plus its q/k norms with
    non-unit weights), scored by the same scorer fused and eager, interleaved, in each dtype of
    ``--compile-dtypes``; the eager scorer (the model's own forward) is the anchor."""
    import numpy as np
    import torch
    import torch._dynamo
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.models import load_tokenizer
    from hf_addons.testing import SMOLLM2_135M_SHAPE

    torch.set_num_threads(args.threads)
    tok = load_tokenizer()
    docs = paragraphs(args.n_docs)
    n_tokens = int(sum(tok(docs, return_length=True)["length"]))
    ids = dict(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    configs = {
        "llama": LlamaConfig(**SMOLLM2_135M_SHAPE, **ids),
        "qwen3": Qwen3Config(**SMOLLM2_135M_SHAPE, head_dim=64, **ids),
    }
    results: dict = {"docs": len(docs), "tokens": n_tokens, "threads": args.threads, "repeats": args.repeats}
    summary = []
    for family, cfg in configs.items():
        torch.manual_seed(0)
        base = AutoModelForCausalLM.from_config(cfg).eval()
        if family == "qwen3":
            with torch.no_grad():  # trained norms are not all ones
                for layer in base.model.layers:
                    layer.self_attn.q_norm.weight.uniform_(0.5, 2.0)
                    layer.self_attn.k_norm.weight.uniform_(0.5, 2.0)
        for dtype_name in args.compile_dtypes.split(","):
            model = base.to({"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name])
            torch._dynamo.reset()  # each model compiles as in a fresh process (no recompile limit across four)
            scorers = {
                "eager": PerplexityScorer(model, tok, fused=False),
                "fused": PerplexityScorer(model, tok, fused=True),
            }
            ppl = {name: scorer.score(docs)["perplexity"] for name, scorer in scorers.items()}  # warm-up
            entry: dict = {"fused_path": scorers["fused"].fast_path}
            entry["seconds"] = interleaved_times(
                {name: (lambda sc=sc: sc.score(docs)) for name, sc in scorers.items()}, args.repeats
            )
            med = {k: float(np.median(v)) for k, v in entry["seconds"].items()}
            entry["median_s"] = med
            entry["max_rel_diff_fused_vs_eager"] = float(np.max(np.abs(ppl["fused"] / ppl["eager"] - 1)))
            results[f"{family}-{dtype_name}"] = entry
            print(f"{family} {dtype_name}: eager {med['eager']:.2f} s, fused {med['fused']:.2f} s "
                  f"({med['eager'] / med['fused']:.2f}x), max rel ppl diff {entry['max_rel_diff_fused_vs_eager']:.1e}; "
                  f"{entry['fused_path']}", flush=True)  # fmt: skip
            summary.append(
                row("data-quality", f"perplexity tokens/s, {family} ({dtype_name}, random init, SmolLM2-135M shape) "
                    f"fused vs eager scorer ({len(docs)} paragraphs, CPU {args.threads} threads, median of "
                    f"{args.repeats})", anchor="eager scorer", anchor_value=n_tokens / med["eager"],
                    ours=n_tokens / med["fused"], ratio=med["eager"] / med["fused"], unit="tok/s",
                    target="report (the fused path's coverage)", met=None)
                | {"headline": False}  # coverage numbers: the README keeps the speed target's row
            )  # fmt: skip
    write_result("perplexity_families", results, summary)


def gemm_peak_gflops(threads: int, repeats: int = 5) -> dict[str, float]:
    """fp32 GEMM throughput torch reaches here, per shape of SmolLM2's matmuls (best of ``repeats``, GFLOP/s).

    Every exact fp32 scorer runs these matmuls through the same library, so their best rate bounds its speed.
    """
    import torch

    torch.set_num_threads(threads)
    shapes = {  # (rows, in, out): the MLP, the attention projections and the LM head at batched sizes, a square
        "1024x576x1536": (1024, 576, 1536),
        "1024x1536x576": (1024, 1536, 576),
        "1024x576x576": (1024, 576, 576),
        "256x576x49152": (256, 576, 49152),
        "4096x576x1536": (4096, 576, 1536),
        "2048x2048x2048": (2048, 2048, 2048),
    }
    out = {}
    with torch.inference_mode():
        for name, (m, k, n) in shapes.items():
            a, b = torch.randn(m, k), torch.randn(k, n)
            torch.mm(a, b)  # warm-up
            seconds: dict[str, float] = {}
            best = float("inf")
            for _ in range(repeats):
                with timer(seconds, name):
                    torch.mm(a, b)
                best = min(best, seconds[name])
            out[name] = 2 * m * k * n / best / 1e9
    return out


def linear_flops(model, lengths: list[int]) -> float:
    """FLOPs of the loop's matmuls with weights (every linear layer and the LM head) over ``lengths`` tokens:
    a lower bound on any exact scorer's work (attention's score matmuls come on top)."""
    import torch

    per_token = sum(
        2 * m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)
    )
    return float(per_token * sum(lengths))


def ceiling(args: argparse.Namespace) -> None:
    """How fast could exact fp32 scoring be here? The loop's FLOP rate against this CPU's fp32 GEMM peak.

    The >= 5x target is a ratio to a loop that already runs its matmuls through the same GEMM; if the loop
    reaches 1/c of the peak, no exact fp32 scorer can be more than c times faster on this machine.
    """
    import numpy as np
    import torch

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.models import load_model

    torch.set_num_threads(args.threads)
    docs = paragraphs(args.n_docs)
    fp32, tok = load_model(device="cpu")
    lengths = [int(n) for n in tok(docs, return_length=True)["length"]]
    flops = linear_flops(fp32, lengths)
    peaks_before = gemm_peak_gflops(args.threads)
    scorer = PerplexityScorer(fp32, tok, tokens_per_batch=args.tokens_per_batch, fused=True)
    t0 = time.perf_counter()
    scorer.score(docs[:4])
    setup_s = time.perf_counter() - t0
    naive_loop(fp32, tok, docs[:2])  # warm-up
    times = interleaved_times(
        {"naive": lambda: naive_loop(fp32, tok, docs), "ours": lambda: scorer.score(docs)}, args.repeats
    )
    peaks_after = gemm_peak_gflops(args.threads)
    peak = max(*peaks_before.values(), *peaks_after.values())
    naive_s, ours_s = float(np.median(times["naive"])), float(np.median(times["ours"]))
    ratio = float(np.median([n / o for n, o in zip(times["naive"], times["ours"], strict=True)]))
    loop_gflops, ours_gflops = flops / naive_s / 1e9, flops / ours_s / 1e9
    ceiling_ratio = naive_s / (flops / (peak * 1e9))
    results = {
        "docs": len(docs),
        "tokens": sum(lengths),
        "model": "SmolLM2-135M-Instruct (embedded), fp32",
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "linear_gflop": flops / 1e9,
        "gemm_gflops_per_shape_before": peaks_before,
        "gemm_gflops_per_shape_after": peaks_after,
        "gemm_peak_gflops": peak,
        "loop_gflops": loop_gflops,
        "ours_gflops": ours_gflops,
        "loop_fraction_of_peak": loop_gflops / peak,
        "ours_fraction_of_peak": ours_gflops / peak,
        "ceiling_ratio": ceiling_ratio,
        "ours_path": scorer.fast_path,
        "ours_setup_s": setup_s,
        "seconds": times,
    }
    where = "CPU" if args.threads == 2 else f"CPU, {args.threads} thread(s)"
    print(
        f"GEMM peak {peak:.0f} GFLOP/s; loop {loop_gflops:.0f} ({loop_gflops / peak:.0%}), ours {ours_gflops:.0f} "
        f"({ours_gflops / peak:.0%}); ratio {ratio:.2f}x, ceiling {ceiling_ratio:.2f}x",
        flush=True,
    )
    summary = [
        row(
            "data-quality",
            f"perplexity tokens/s ({len(docs)} paragraphs, default: fp32 + fused Llama decoder vs loop fp32, "
            f"{where}, median of {args.repeats} interleaved); ceiling for any exact fp32 scorer here: "
            f"{ceiling_ratio:.2f}x (loop at {loop_gflops / peak:.0%} of the fp32 GEMM peak, "
            f"{peak:.0f} GFLOP/s)",
            anchor="per-document loop (fp32)",
            anchor_value=sum(lengths) / naive_s,
            ours=sum(lengths) / ours_s,
            ratio=ratio,
            unit="tok/s",
            target=">= 5x",
            met=ratio >= 5,
        ),
        row(
            "data-quality",
            f"perplexity, exact fp32: the most any scorer can gain over the loop on this CPU "
            f"(loop's linear-layer FLOP time at the best fp32 GEMM rate, {where})",
            anchor=None,
            anchor_value=None,
            ours=ceiling_ratio,
            unit="x",
            target="report (the >= 5x target needs a ceiling >= 5)",
            met=None,
        ),
    ]
    summary[0]["headline"] = True
    threads = "" if args.threads == 2 else f"_threads{args.threads}"
    write_result("perplexity_ceiling" + threads, results, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part",
        choices=["speed", "signal", "precision", "compile", "families", "ceiling", "all"],
        default="all",
    )
    parser.add_argument(
        "--compile-dtypes", default="bf16,fp32", help="--part compile/families: dtypes to compare in"
    )
    parser.add_argument("--n-docs", type=int, default=64)
    parser.add_argument("--tokens-per-batch", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="--part speed: interleaved repeats (median)")
    parser.add_argument("--pages", type=int, default=88)
    parser.add_argument("--name", default="perplexity_signal", help="--part signal: result file name")
    parser.add_argument("--modes", default=None, help=f"comma-separated subset of {sorted(MODES)}")
    parser.add_argument(
        "--signal-dtype", choices=["default", "fp32", "bf16"], default="default", help="default: the scorer's"
    )
    args = parser.parse_args()
    if args.part in ("speed", "all"):
        speed(args)
    if args.part in ("signal", "all"):
        signal(args)
    if args.part == "precision":
        precision(args)
    if args.part == "compile":
        compile_speed(args)
    if args.part == "families":
        families(args)
    if args.part == "ceiling":
        ceiling(args)


if __name__ == "__main__":
    main()
