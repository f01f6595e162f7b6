"""Calibration of the watermark detector on real human text: empirical false-positive rates vs nominal.

Human text this project never generated, of five kinds, assembled from what is on this machine:
``code`` (``.py`` files of the packages installed in the venv), ``docs`` (package READMEs: ``METADATA``,
``.md``/``.rst`` in site-packages and ``/usr/share/doc``), ``debian`` (Debian changelogs, copyright files and
``README.Debian`` under ``/usr/share/doc``: lists and logs), ``html`` (the raw shared article pages) and
``news`` (their article bodies). Each source unit (a package, a Debian package, a page) goes to the ``dev`` or
the ``heldout`` split by a hash of its name; nothing was tuned on held-out. Each document is cut into
non-overlapping windows of 50/100/200 tokens of the default model's tokenizer (at most ``--per-doc`` per
document and ``--max-windows`` per corpus, split and size), and scored under ``--keys`` keys for all four
schemes (lefthash-1, minhash-4, selfhash-4, unigram; gamma 0.25). A window is one test per key.

Per cell: the empirical FPR of ``z > 4`` and of ``p <= 1e-3`` (exact binomial p) with Clopper-Pearson 95% CIs,
next to their nominal rates. The nominal rate of a rule is its exact size under H0 given each window's number of
scored tokens n (the mean over tests of ``P(Binomial(n, gamma) passes the rule)``): the normal tail 3.2e-5 of
z = 4 understates it for short windows, and the discrete ``p <= 1e-3`` test has a size below 1e-3. A cell meets
the target when its CI overlaps [nominal / 2, 2 x nominal], and the std of z is within 1.0 +- 0.1.
``--old-rule`` also scores with the (context, token) n-gram counting of transformers/lm-watermarking (the rule
this detector used before), and transformers' own ``WatermarkDetector`` runs on a subset (the anchor).

``--winmax SIZE`` adds windowed detection (WinMax) on texts of SIZE tokens cut the same way (``--winmax-schemes``,
default lefthash-1 and selfhash-4; the same keys): its false-positive rate at p <= 1e-2 and 1e-3 for the detector's rule (half the
budget to the whole text, half to the shorter windows, calibrated by the scan's null simulated for Bernoulli
greens) and, from the same scan, for the two Bonferroni corrections it replaced (``_common.window_rule_ps``). A
cell meets the target when its CI does not lie above the nominal rate: real text is not a Bernoulli sequence,
so this is the check that the simulated null holds on it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import SHARED_DATA, row, window_rule_ps, write_result  # noqa: E402
from scipy.stats import beta, binom  # noqa: E402

SCHEMES = [("lefthash", 1), ("minhash", 4), ("selfhash", 4), ("unigram", 1)]
GAMMA = 0.25
Z = 4.0
P = 1e-3
WINMAX_ALPHAS = (1e-2, 1e-3)
WINMAX_RULES = ("calibrated", "bonferroni", "even")  # _common.window_rule_ps


def _split(unit: str) -> str:
    return "dev" if hashlib.sha256(unit.encode()).digest()[0] % 2 == 0 else "heldout"


def _read(path: Path, limit: int) -> str:
    try:
        data = gzip.open(path).read(limit) if path.suffix == ".gz" else path.read_bytes()[:limit]
    except (OSError, EOFError):
        return ""
    return data.decode("utf-8", errors="replace")


def collect(site: Path, max_chars: int, seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """``{corpus: {split: [document text, ...]}}`` from this machine's files (deterministic order)."""
    corpora: dict[str, dict[str, list[tuple[str, str]]]] = {}

    def add(corpus: str, unit: str, text: str) -> None:
        if len(text.strip()) >= 200:
            corpora.setdefault(corpus, {"dev": [], "heldout": []})[_split(unit)].append((unit, text))

    for pkg in sorted(p for p in site.iterdir() if p.is_dir()):
        unit = pkg.name.split("-")[0].lower()
        if pkg.name.endswith(".dist-info"):
            meta = pkg / "METADATA"
            if meta.exists():
                body = meta.read_text(errors="replace").split("\n\n", 1)[-1]
                add("docs", unit, body)
            continue
        for f in sorted(pkg.rglob("*"))[:4000]:
            if f.suffix == ".py" and "test" not in f.name:
                add("code", unit, _read(f, 60_000))
            elif f.suffix in (".md", ".rst") and f.is_file():
                add("docs", unit, _read(f, 60_000))
    doc = Path("/usr/share/doc")
    if doc.exists():
        for pkg in sorted(p for p in doc.iterdir() if p.is_dir()):
            for f in sorted(pkg.rglob("*")):
                if not f.is_file():
                    continue
                name = f.name.lower()
                if name.startswith(("changelog.debian", "copyright", "readme.debian", "news.debian")):
                    add("debian", pkg.name, _read(f, 40_000))
                elif f.suffix in (".md", ".txt") or (f.suffix == ".gz" and f.stem.endswith((".md", ".txt"))):
                    add("docs", "deb:" + pkg.name, _read(f, 40_000))
    html = SHARED_DATA / "article-extraction" / "html"
    truth = SHARED_DATA / "article-extraction" / "ground-truth.json"
    if html.exists():
        for f in sorted(html.iterdir()):
            add("html", f.name.split(".")[0], _read(f, 400_000))
    if truth.exists():
        for page, item in sorted(json.loads(truth.read_text()).items()):
            add("news", page, item.get("articleBody") or "")
    rng = random.Random(seed)
    out: dict[str, dict[str, list[str]]] = {}
    for corpus, splits in corpora.items():
        out[corpus] = {}
        for split, docs in splits.items():
            rng.shuffle(docs)  # a spread of units within the character budget
            kept, total = [], 0
            for _, text in docs:
                if total >= max_chars:
                    break
                kept.append(text)
                total += len(text)
            out[corpus][split] = kept
    return out


def cut(token_rows: list[list[int]], size: int, per_doc: int, max_windows: int, seed: int) -> torch.Tensor:
    """Non-overlapping windows of ``size`` tokens: at most ``per_doc`` per document, ``max_windows`` in all.

    Exact duplicate windows (boilerplate: licence headers, generated code) are kept once: under one key they
    give the same z, so counting them as separate tests would make the CIs narrower than the data allows."""
    rng = random.Random(seed)
    wins, seen = [], set()
    for ids in token_rows:
        starts = list(range(0, len(ids) - size + 1, size))
        rng.shuffle(starts)
        for s in starts[:per_doc]:
            w = tuple(ids[s : s + size])
            if w not in seen:
                seen.add(w)
                wins.append(list(w))
    rng.shuffle(wins)
    return torch.tensor(wins[:max_windows], dtype=torch.long).reshape(-1, size)


def size_tables(max_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact H0 size of ``z > 4`` and of ``p <= 1e-3`` for every n in 0..max_n."""
    n = np.arange(max_n + 1)
    sd = np.sqrt(n * GAMMA * (1 - GAMMA))
    g_z = np.floor(GAMMA * n + Z * sd) + 1  # least green count with z > 4
    size_z = np.where(n > 0, binom.sf(g_z - 1, n, GAMMA), 0.0)
    size_p = np.zeros(max_n + 1)
    for k in range(1, max_n + 1):  # least count whose tail is <= P (a table, not a hot path)
        tails = binom.sf(np.arange(k + 1) - 1, k, GAMMA)
        ok = np.nonzero(tails <= P)[0]
        size_p[k] = tails[ok[0]] if ok.size else 0.0
    return size_z, size_p


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def rate_cell(k: int, n: int, nominal: float) -> dict:
    lo, hi = clopper_pearson(k, n)
    return {
        "flags": k,
        "tests": n,
        "fpr": k / n if n else math.nan,
        "ci95": [lo, hi],
        "nominal": nominal,
        "ratio": (k / n) / nominal if n and nominal else math.nan,
        "met": bool(lo <= 2 * nominal and hi >= nominal / 2),
    }


def score_cell(windows: torch.Tensor, scheme: str, width: int, keys: list[int], rule: str, tables) -> dict:
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector

    size_z, size_p = tables
    zs, ps, ns = [], [], []
    for key in keys:
        cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, gamma=GAMMA, hashing_key=key)
        out = WatermarkDetector(cfg, count_once=rule).score_ids(windows)
        zs.append(out["z"])
        ps.append(out["p"])
        ns.append(out["num_scored"])
    z, p, n = torch.cat(zs), torch.cat(ps), torch.cat(ns)
    ok = n > 0
    z, p, n = z[ok], p[ok], n[ok].numpy()
    tests = int(ok.sum())
    return {
        "z4": rate_cell(int((z > Z).sum()), tests, float(size_z[n].mean())),
        "p1e-3": rate_cell(int((p <= P).sum()), tests, float(size_p[n].mean())),
        "z_mean": float(z.mean()),
        "z_std": float(z.std()),
        "z_std_met": bool(abs(float(z.std()) - 1.0) <= 0.1),
        "z_max": float(z.max()),
        "median_scored": float(np.median(n)),
    }


def anchor_cell(windows: torch.Tensor, scheme: str, width: int, keys: list[int], vocab: int) -> dict:
    """transformers' ``WatermarkDetector`` (normal z, n-gram repeats counted once) on the same windows."""
    from transformers import LlamaConfig, WatermarkingConfig
    from transformers import WatermarkDetector as HFDetector

    model_config = LlamaConfig(vocab_size=vocab, bos_token_id=1, eos_token_id=2)
    zs = []
    for key in keys:
        wcfg = WatermarkingConfig(
            greenlist_ratio=GAMMA, seeding_scheme=scheme, context_width=width, hashing_key=key
        )
        det = HFDetector(model_config, "cpu", wcfg, ignore_repeated_ngrams=True)
        zs.append(torch.as_tensor(det(windows, return_dict=True).z_score, dtype=torch.double))
    z = torch.cat(zs)
    z = z[~torch.isnan(z)]
    return {"tests": int(z.numel()), "z_std": float(z.std()), "z4_flags": int((z > Z).sum())}


def winmax_cell(texts: torch.Tensor, scheme: str, width: int, keys: list[int]) -> dict:
    """False-positive rates of windowed detection on human texts under each correction (``window_rule_ps``)."""
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector

    ps: dict[str, list[torch.Tensor]] = {rule: [] for rule in WINMAX_RULES}
    for key in keys:
        cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, gamma=GAMMA, hashing_key=key)
        det = WatermarkDetector(cfg)
        out = det.score_ids(texts)
        w = det.window_scores(out["green"], out["scored"])
        ok = w["tests"] > 0
        for rule, p in window_rule_ps(w).items():
            ps[rule].append(p[ok])
    cell: dict = {"tests": int(sum(p.numel() for p in ps["calibrated"]))}
    for rule, parts in ps.items():
        p = torch.cat(parts)
        for alpha in WINMAX_ALPHAS:
            k = int((p <= alpha).sum())
            lo, hi = clopper_pearson(k, p.numel())
            cell[f"{rule}@{alpha:g}"] = {
                "flags": k,
                "fpr": k / p.numel(),
                "ci95": [lo, hi],
                "met": lo <= alpha,
            }
    return cell


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="50,100,200")
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--max-windows", type=int, default=3000, help="windows per corpus, split and size")
    ap.add_argument("--per-doc", type=int, default=30, help="windows per document and size, at most")
    ap.add_argument("--max-chars", type=int, default=3_000_000, help="characters per corpus and split")
    ap.add_argument(
        "--old-rule", action="store_true", help="also score minhash/selfhash with (context, token) counting"
    )
    ap.add_argument(
        "--anchor-windows", type=int, default=0, help="windows per cell for transformers' detector"
    )
    ap.add_argument(
        "--winmax", type=int, default=0, help="also windowed detection on texts of this many tokens"
    )
    ap.add_argument(
        "--winmax-schemes", default="lefthash:1,selfhash:4", help="schemes of the windowed check, name:width"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="watermark-calibration")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.time()

    import site

    from hf_addons.models import load_tokenizer

    tok = load_tokenizer()
    site_dir = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    corpora = collect(site_dir, args.max_chars)
    keys = [
        int.from_bytes(hashlib.sha256(f"calibration key {i}".encode()).digest()[:7], "little")
        for i in range(args.keys)
    ]
    sizes = [int(s) for s in args.sizes.split(",") if s]  # --sizes "": WinMax only
    winmax_schemes = [
        (name, int(width)) for name, width in (s.split(":") for s in args.winmax_schemes.split(","))
    ]
    tables = size_tables(max(sizes, default=1))
    cells, stats, winmax = [], {}, []
    for corpus in sorted(corpora):
        for split in ("dev", "heldout"):
            docs = corpora[corpus][split]
            rows = tok(docs, add_special_tokens=False)["input_ids"] if docs else []
            stats[f"{corpus}/{split}"] = {"documents": len(docs), "tokens": sum(map(len, rows))}
            if args.winmax:
                seed = int(hashlib.sha256(f"{corpus}{split}winmax".encode()).hexdigest()[:8], 16)
                texts = cut(rows, args.winmax, args.per_doc, args.max_windows, seed)
                for scheme, width in winmax_schemes:
                    if len(texts):
                        cell = {
                            "corpus": corpus,
                            "split": split,
                            "scheme": f"{scheme}-{width}",
                            "texts": len(texts),
                        }
                        cell.update(winmax_cell(texts, scheme, width, keys))
                        winmax.append(cell)
                        print(
                            f"winmax {corpus:6s} {split:7s} {scheme}-{width} n={len(texts)}x{len(keys)} "
                            + " ".join(
                                f"{r}@{a:g} {cell[f'{r}@{a:g}']['flags']}"
                                for r in WINMAX_RULES
                                for a in WINMAX_ALPHAS
                            ),
                            flush=True,
                        )
            for size in sizes:
                seed = int(hashlib.sha256(f"{corpus}{split}{size}".encode()).hexdigest()[:8], 16)
                windows = cut(rows, size, args.per_doc, args.max_windows, seed)
                if len(windows) == 0:
                    continue
                for scheme, width in SCHEMES:
                    for rule in (
                        ("seed", "ngram")
                        if args.old_rule and scheme in ("minhash", "selfhash") and size == max(sizes)
                        else ("seed",)
                    ):
                        cell = {
                            "corpus": corpus,
                            "split": split,
                            "size": size,
                            "scheme": f"{scheme}-{width}",
                            "rule": rule,
                            "windows": len(windows),
                            **score_cell(windows, scheme, width, keys, rule, tables),
                        }
                        if (
                            rule == "seed"
                            and args.anchor_windows
                            and scheme in ("lefthash", "selfhash")
                            and size == 100
                        ):
                            cell["transformers"] = anchor_cell(
                                windows[: args.anchor_windows], scheme, width, keys[:2], len(tok)
                            )
                        cells.append(cell)
                        print(
                            f"{corpus:6s} {split:7s} {size:3d} {scheme}-{width} {rule:5s} n={len(windows):4d}x{len(keys)} "
                            f"z4 {cell['z4']['flags']:3d} ({cell['z4']['fpr']:.1e} vs {cell['z4']['nominal']:.1e}) "
                            f"p1e-3 {cell['p1e-3']['flags']:3d} ({cell['p1e-3']['fpr']:.1e} vs {cell['p1e-3']['nominal']:.1e}) "
                            f"std {cell['z_std']:.3f}"
                            + (
                                f" | transformers std {cell['transformers']['z_std']:.3f}"
                                if "transformers" in cell
                                else ""
                            ),
                            flush=True,
                        )

    summary = []
    for split in ("dev", "heldout"):
        for scheme, width in SCHEMES:
            name = f"{scheme}-{width}"
            sel = [c for c in cells if c["split"] == split and c["scheme"] == name and c["rule"] == "seed"]
            if not sel:
                continue
            k = sum(c["p1e-3"]["flags"] for c in sel)
            n = sum(c["p1e-3"]["tests"] for c in sel)
            nominal = sum(c["p1e-3"]["nominal"] * c["p1e-3"]["tests"] for c in sel) / n
            kz = sum(c["z4"]["flags"] for c in sel)
            nz = sum(c["z4"]["nominal"] * c["z4"]["tests"] for c in sel) / n
            met = all(c["p1e-3"]["met"] and c["z4"]["met"] and c["z_std_met"] for c in sel)
            stds = [c["z_std"] for c in sel]
            summary.append(
                row(
                    "watermark",
                    f"calibration {split}, {name}: FPR at p<=1e-3 pooled over {len(sel)} cells "
                    f"(z=4: {kz}/{n} vs nominal {nz:.1e}; std z {min(stds):.2f}-{max(stds):.2f})",
                    anchor="nominal (exact binomial size)",
                    anchor_value=nominal,
                    ours=k / n,
                    ratio=(k / n) / nominal,
                    unit="false-positive rate",
                    target="every cell: CI overlaps [nominal/2, 2x nominal] at z=4 and p=1e-3; std z 1.0+-0.1",
                    met=met,
                )
            )
    for split in ("dev", "heldout"):
        for scheme in (f"{name}-{width}" for name, width in winmax_schemes):
            sel = [c for c in winmax if c["split"] == split and c["scheme"] == scheme]
            if not sel:
                continue
            n = sum(c["tests"] for c in sel)
            for alpha in WINMAX_ALPHAS:
                k = {r: sum(c[f"{r}@{alpha:g}"]["flags"] for c in sel) for r in WINMAX_RULES}
                lo, _ = clopper_pearson(k["calibrated"], n)
                summary.append(
                    row(
                        "watermark",
                        f"WinMax calibration {split}, {scheme}, {args.winmax}-token human texts: FPR at p <= "
                        f"{alpha:g} pooled over {len(sel)} corpora (Bonferroni half split {k['bonferroni']}/{n}, "
                        f"even split {k['even']}/{n})",
                        anchor="nominal",
                        anchor_value=alpha,
                        ours=k["calibrated"] / n,
                        ratio=(k["calibrated"] / n) / alpha,
                        unit="false-positive rate",
                        target="every corpus: CI not above nominal",
                        met=lo <= alpha and all(c[f"calibrated@{alpha:g}"]["met"] for c in sel),
                    )
                    | {"headline": False}  # the README keeps the plain test's calibration row
                )
    payload = {
        "gamma": GAMMA,
        "winmax_tokens": args.winmax,
        "winmax": winmax,
        "keys": len(keys),
        "sizes": sizes,
        "corpora": stats,
        "cells": cells,
        "normal_tail_z4": 0.5 * math.erfc(Z / math.sqrt(2)),
        "seconds": time.time() - t_start,
    }
    write_result(args.name, payload, summary)


if __name__ == "__main__":
    main()
