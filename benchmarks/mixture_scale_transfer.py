"""Does the searched optimum's lead carry to a larger proxy because of its tokens or its parameters?

The validation proxies of ``bench_mixture_search.py`` are larger than the search's in both parameters and
tokens, and the optimum's lead over natural and uniform shrinks there. This trains the three mixtures
(the ``--search-result``'s optimum, natural, uniform) on a grid of proxy widths x token budgets
(``--grid 128x2@200000,...``: hidden x layers @ tokens, optionally ``/b2`` for another batch size and
``/lr6.25e-4`` for another learning rate, e.g. ``128x2@400000/b2/lr6.25e-4``), seeds ``--base-seed ..``,
and reports each cell's objective per mixture and the paired per-seed gaps (baseline - optimum): the cell
with the search's width at the validation budget separates the budget's effect from the width's.

``--extrapolate-from 100000`` also tests a budget-aware search: the search's mixtures are trained again at
that budget, each run's per-domain losses are extrapolated log-linearly in tokens (through its two budgets)
to every larger budget of the grid, the search's regression is refitted on the extrapolated objective, and
its predictions for the three mixtures are set beside what the search-width cells measured.

``--line 0.25,0.5,-0.25`` also trains mixtures on the line from natural (a = 0) to the optimum (a = 1) in every
cell: is there a better mixture between them, or past natural?

``--draws 16`` also trains the search's first 16 Dirichlet draws (in the search's order, not chosen by loss) in
every cell: does their ranking carry from the first cell to the others (Spearman over the draws, RegMix's
premise), and how far below the better of natural and uniform does the best of them land (what any search
over such mixtures could find there)?

``--refit-seeds 1002,1003`` (with ``--draws``) also asks whether the target is there to find at the last cell's
scale: the search's regressors are refitted on that cell's mixtures and draws (its first seed), the refit's
optimum (under the caps at that cell's tokens) is trained with natural and uniform on those fresh seeds, and
the issue's check (lowest by more than the largest seed spread) is applied to it. A mixture chosen with the
larger proxy's own losses is more than any search at the smaller proxy can know; if it does not pass on
fresh seeds, the margin the check needs is not in that landscape.

Runs share ``bench_mixture_search.py``'s cache (same data and proxies: its validation runs are reused).

    python benchmarks/mixture_scale_transfer.py --cache-dir runs/mixture-search-webval4 --val-every web=4 \
        --search-result benchmarks/results/mixture-search-webval4-cpu-2c.json --extrapolate-from 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result  # noqa: E402
from mixture_corpora import add_run_args, parse_val_every, prepared_search  # noqa: E402
from mixture_seed_noise import seed_spread  # noqa: E402

MIXTURES = ("optimum", "natural", "uniform")


@dataclass(frozen=True)
class Cell:
    """One proxy of the grid: the search's proxy at another width, budget and (optionally) batch or rate."""

    hidden: int
    layers: int
    tokens: int
    batch_size: int | None = None
    learning_rate: float | None = None

    @property
    def key(self) -> str:
        return (
            f"{self.hidden}x{self.layers}@{self.tokens}"
            + (f"/b{self.batch_size}" if self.batch_size else "")
            + (f"/lr{self.learning_rate:g}" if self.learning_rate else "")
        )

    def proxy(self, base: Any) -> Any:
        out = base.at_width(self.hidden, self.layers, learning_rate=self.learning_rate)
        return replace(out, batch_size=self.batch_size) if self.batch_size else out


def parse_grid(text: str) -> list[Cell]:
    """``"128x2@200000,264x4@1000000/b2/lr1e-3"`` -> [Cell(128, 2, 200000), Cell(264, 4, 1000000, 2, 1e-3)]."""
    cells = []
    for c in text.split(","):
        try:
            shape, *opts = c.split("/")
            a, rest = shape.split("x")
            b, t = rest.split("@")
            kw = {"b": None, "lr": None}
            for o in opts:
                name = "lr" if o.startswith("lr") else "b" if o.startswith("b") else None
                if name is None or kw[name] is not None:
                    raise ValueError(o)
                kw[name] = o[len(name) :]
            cells.append(
                Cell(
                    int(a),
                    int(b),
                    int(t),
                    None if kw["b"] is None else int(kw["b"]),
                    None if kw["lr"] is None else float(kw["lr"]),
                )
            )
        except ValueError:
            raise SystemExit(
                f"--grid {text!r}: give hidden x layers @ tokens [/bBATCH] [/lrRATE], e.g. "
                "128x2@200000,264x4@1000000,128x2@400000/b2/lr6.25e-4"
            ) from None
    return cells


def paired_gaps(scores: dict[str, list[float]]) -> dict[str, dict]:
    """Per seed, each baseline's objective minus the optimum's (positive: the optimum is lower)."""
    from hf_addons.data.mixture.scale_check import paired_lower

    out = {}
    for k in ("natural", "uniform"):
        below, p = paired_lower(scores["optimum"], scores[k])
        out[k] = {
            "differences": (-below).tolist(),
            "mean": float(-below.mean()),
            "seeds_optimum_lower": int((below < 0).sum()),
            "paired_t_one_sided_p": float("nan") if p is None else p,  # one seed: no test
        }
    return out


def draw_transfer(
    cells: dict[str, dict], grid: list[Cell], weights: dict[str, dict], draws: list[str], boot: int = 10_000
) -> dict:
    """Per cell: the draws' Spearman with the first cell's ranking (bootstrap 95% CI over the draws), and the
    lead of the best draw (and of the optimum) over the better baseline, seed by seed then averaged. The best of
    many one-seed draws is picked for its low loss, so its lead overstates what a search could find."""
    from scipy.stats import spearmanr

    first = cells[grid[0].key]["draws"]
    x = np.asarray([first[m]["mean"] for m in draws])
    rng = np.random.default_rng(0)
    out = {}
    for cell in grid:
        c = cells[cell.key]
        y = np.asarray([c["draws"][m]["mean"] for m in draws])
        per_seed = {m: np.asarray(v["objective"]) for m, v in {**c["mixtures"], **c["draws"]}.items()}
        baseline = np.minimum(per_seed["natural"], per_seed["uniform"])
        lead = {m: float((baseline - per_seed[m]).mean()) for m in draws}
        best = max(lead, key=lead.get)
        entry = {
            "draws_objective": dict(zip(draws, y.round(4).tolist(), strict=True)),
            "best_draw": best,
            "best_draw_weights": weights[best],
            "best_draw_lead": lead[best],
            "optimum_lead": float((baseline - per_seed["optimum"]).mean()),
            "draws_below_both_baselines": int(sum(v > 0 for v in lead.values())),
        }
        if cell != grid[0]:
            rho = float(spearmanr(x, y).statistic)
            idx = rng.integers(0, len(draws), size=(boot, len(draws)))
            # a resample can repeat one draw throughout: its rho is undefined and skipped
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reps = [spearmanr(x[i], y[i]).statistic for i in idx]
            entry["spearman_vs_first"] = rho
            entry["spearman_ci95"] = np.nanpercentile(reps, [2.5, 97.5]).tolist()
        out[cell.key] = entry
        print(
            f"{cell.key:>16s}: best draw {best} leads the better baseline by {lead[best]:+.3f}, the optimum by "
            f"{entry['optimum_lead']:+.3f}; {entry['draws_below_both_baselines']}/{len(draws)} draws below both"
            + (
                f"; Spearman with {grid[0].key} {entry['spearman_vs_first']:.3f} "
                f"(95% CI {entry['spearman_ci95'][0]:.2f} to {entry['spearman_ci95'][1]:.2f})"
                if "spearman_vs_first" in entry
                else ""
            )
        )
    return out


def predict_named(fit: dict, weights: dict[str, dict], names: list[str], mixtures: Any) -> dict[str, float]:
    """A :func:`fit_regressor` fit's predicted objective for each named mixture."""
    from hf_addons.data.mixture.regression import features

    w = np.asarray([[weights[m][s] for s in names] for m in mixtures])
    return dict(zip(mixtures, fit["model"].predict(features(w, fit["name"])).tolist(), strict=True))


def refit_at_cell(
    cell: dict, weights: dict[str, dict], mixtures: list[str], space: Any, search: dict
) -> tuple[np.ndarray, dict]:
    """The search's regression refitted on one cell's runs (their first seed) and its recommendation under
    ``space``'s caps, made as the search makes its own (mean of the best candidates, small shares dropped)."""
    from hf_addons.data.mixture.regression import fit_regressor, predicted_optimum

    runs = {**cell["mixtures"], **cell["draws"]}
    y = np.asarray([runs[m]["objective"][0] for m in mixtures])
    w = np.asarray([[weights[m][s] for s in space.names] for m in mixtures])
    w = w / w.sum(1, keepdims=True)  # undo the rounding of the cache key
    fit = fit_regressor(w, y)
    best = space.drop_small(predicted_optimum(space, fit), search.get("min_weight", 1e-3))
    return best / best.sum(), fit


def ceiling_check(
    jobs: list[tuple[str, int]],
    runs: list[dict],
    objective: dict,
    cell: Cell,
    fit: dict,
    weights: dict,
    names: list[str],
) -> dict:
    """The issue's check on the refit's optimum (its ``met``: lowest by more than the largest seed spread)."""
    from hf_addons.data.mixture.scale_check import ScaleCheck

    by = {
        m: [r for (k, _), r in zip(jobs, runs, strict=True) if k == m]
        for m in ("refit", "natural", "uniform")
    }
    check = ScaleCheck(runs[0]["parameters"], cell.tokens, objective, {"optimum": by.pop("refit"), **by})
    pred = predict_named(fit, weights, names, ("refit", "natural", "uniform"))
    out = {
        "cell": cell.key,
        "fitted_on": "the cell's mixtures and draws, the grid's first seed",
        "regressor": fit["name"],
        "cv_spearman": fit["cv_spearman"],
        "cv_spearman_sd": fit["cv_spearman_sd"],
        "weights": weights["refit"],
        "predicted": pred,
        "predicted_lead_over_uniform": pred["uniform"] - pred["refit"],
        "seeds": sorted({s for _, s in jobs}),
        "check": check.to_dict(),
    }
    print(f"refit at {cell.key}: {json.dumps({k: v for k, v in out.items() if k != 'check'})}")
    print(check.to_card())
    return out


def main() -> None:
    from hf_addons.data.mixture.proxy import ProxyConfig, proxy_spec, run_proxies
    from hf_addons.data.mixture.regression import fit_regressor, predicted_optimum

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="128x2@200000,128x2@1000000,264x4@200000,264x4@1000000")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--base-seed", type=int, default=1000, help="bench_mixture_search.py's validation seeds")
    p.add_argument("--extrapolate-from", type=int, default=None, help="a second, smaller search budget")
    p.add_argument("--search-result", required=True, help="a bench_mixture_search.py result (its optimum)")
    p.add_argument(
        "--line",
        default="",
        help="also train natural + a x (optimum - natural) for these comma-separated a (0.5: halfway; "
        "-0.25: past natural): is a mixture on that line better than both?",
    )
    p.add_argument("--draws", type=int, default=0, help="also train the search's first N draws in every cell")
    p.add_argument(
        "--refit-seeds",
        default="",
        help="with --draws: refit the regression on the last cell's runs (first seed) and check its optimum "
        "against natural and uniform there on these comma-separated fresh seeds",
    )
    add_run_args(p, val_every="web=4", name="mixture-scale-transfer")
    args = p.parse_args()
    grid = parse_grid(args.grid)
    refit_seeds = [int(x) for x in args.refit_seeds.split(",") if x]
    if refit_seeds and not args.draws:
        raise SystemExit("--refit-seeds needs --draws: the refit is over the draws' runs in the last cell")
    if set(refit_seeds) & set(range(args.base_seed, args.base_seed + args.seeds)):
        raise SystemExit(f"--refit-seeds {args.refit_seeds}: give seeds the grid does not use (fresh ones)")

    found = json.loads(Path(args.search_result).read_text())["results"]
    search = found["search"]
    base = ProxyConfig(**search["proxy"])  # the search's proxy; the grid's widths via at_width, as the bench
    domains, space, bundle, bundle_path, objective = prepared_search(
        parse_val_every(args.val_every),
        args.cache_dir,
        search["objective"],
        tokens_per_run=search["tokens_per_run"],
        seq_len=base.seq_len,
        max_epochs=args.max_epochs,
        max_doc_tokens=args.max_doc_tokens,
        stratify=args.stratify,
        web=args.web,
    )
    weights = {
        "optimum": search["weights"],
        "natural": space.natural,
        "uniform": dict.fromkeys(space.names, 1 / len(space.names)),
    }
    line = {f"natural{a:+g}x(optimum-natural)": a for a in (float(x) for x in args.line.split(",") if x)}
    for label, a in line.items():
        w = {
            k: weights["natural"][k] + a * (weights["optimum"][k] - weights["natural"][k])
            for k in space.names
        }
        if min(w.values()) < 0:
            raise SystemExit(f"--line {a:g}: a negative share ({w}); choose a closer to [0, 1]")
        weights[label] = w
    corner_runs = search.get("corner_runs", 0)  # the last runs: each source alone, not draws
    drawn = [r["weights"] for r in found["runs"][: len(found["runs"]) - corner_runs]][: args.draws]
    if len(drawn) < args.draws:
        raise SystemExit(f"--draws {args.draws}: the search result has {len(drawn)} draws")
    draws = {f"draw{i}": w for i, w in enumerate(drawn)}
    weights.update(draws)
    seeds = range(args.base_seed, args.base_seed + args.seeds)
    mixtures = (*MIXTURES, *line, *draws)
    jobs = [(cell, m, s) for cell in grid for m in mixtures for s in seeds]
    specs = [
        proxy_spec(weights[m], space, cell.proxy(base), bundle, s, tokens=cell.tokens) for cell, m, s in jobs
    ]
    t0 = time.perf_counter()
    runs = run_proxies(specs, bundle_path, args.cache_dir, args.workers, desc="grid proxies")
    cells = {}
    for cell in grid:
        at = {m: [i for i, job in enumerate(jobs) if job[:2] == (cell, m)] for m in mixtures}
        by = {m: seed_spread([runs[i]["val_loss"] for i in at[m]], objective) for m in MIXTURES}
        key = cell.key
        cells[key] = {
            "hidden": cell.hidden,
            "layers": cell.layers,
            "tokens": cell.tokens,
            **({"batch_size": cell.batch_size} if cell.batch_size else {}),
            **({"learning_rate": cell.learning_rate} if cell.learning_rate else {}),
            "parameters": runs[at["optimum"][0]]["parameters"],
            "mixtures": by,
            "gaps": paired_gaps({m: v["objective"] for m, v in by.items()}),
            "domain_means": {
                m: {d: float(np.mean([runs[i]["val_loss"][d] for i in at[m]])) for d in objective}
                for m in mixtures
            },
            "line": {
                m: {"a": a, **seed_spread([runs[i]["val_loss"] for i in at[m]], objective)}
                for m, a in line.items()
            },
            "draws": {m: seed_spread([runs[i]["val_loss"] for i in at[m]], objective) for m in draws},
        }
        g = cells[key]["gaps"]
        print(
            f"{key:>16s}: "
            + " ".join(f"{m} {by[m]['mean']:.3f}" for m in MIXTURES)
            + f" | natural-opt {g['natural']['mean']:+.3f} (p {g['natural']['paired_t_one_sided_p']:.2f})"
            + f" uniform-opt {g['uniform']['mean']:+.3f} (p {g['uniform']['paired_t_one_sided_p']:.2f})"
            + "".join(f" | a={v['a']:g} {v['mean']:.3f}" for v in cells[key]["line"].values())
        )

    transfer = draw_transfer(cells, grid, weights, list(draws)) if draws else None
    ceiling = None
    if refit_seeds:
        last = grid[-1]
        at = replace(space, target_tokens=last.tokens)  # the caps of the run the refit recommends for
        best, fit = refit_at_cell(cells[last.key], weights, [*MIXTURES, *draws], at, search)
        weights["refit"] = dict(zip(space.names, best.tolist(), strict=True))
        named = ("refit", "natural", "uniform")
        chk_jobs = [(m, s) for s in refit_seeds for m in named]  # seed by seed: the first seeds finish first
        chk_runs = run_proxies(
            [
                proxy_spec(weights[m], space, last.proxy(base), bundle, s, tokens=last.tokens)
                for m, s in chk_jobs
            ],
            bundle_path,
            args.cache_dir,
            args.workers,
            desc="refit check",
        )
        ceiling = ceiling_check(chk_jobs, chk_runs, objective, last, fit, weights, space.names)

    extrapolation = None
    if args.extrapolate_from:
        lo, hi = args.extrapolate_from, search["tokens_per_run"]
        if not 0 < lo < hi:
            raise SystemExit(f"--extrapolate-from {lo}: must be below the search's {hi} tokens per run")
        names = space.names
        at_hi = found["runs"]  # the search's own runs (its seed, its budget)
        w = np.asarray([[r["weights"][s] for s in names] for r in at_hi])
        w = w / w.sum(1, keepdims=True)  # undo the rounding of the cache key
        lo_specs = [
            proxy_spec(dict(zip(names, row, strict=True)), space, base, bundle, 0, tokens=lo) for row in w
        ]
        at_lo = run_proxies(lo_specs, bundle_path, args.cache_dir, args.workers, desc="low-budget runs")
        loss_lo = np.asarray([[r["val_loss"][d] for d in objective] for r in at_lo])
        loss_hi = np.asarray([[r["val_loss"][d] for d in objective] for r in at_hi])
        slope = (loss_hi - loss_lo) / np.log(hi / lo)
        coef = np.asarray([objective[d] for d in objective])
        extrapolation = {"from_tokens": [lo, hi], "targets": {}}
        for cell in grid:
            t = cell.tokens
            if cell.proxy(base) != base or t <= hi:
                continue
            y = (loss_hi + slope * np.log(t / hi)) @ coef
            fit = fit_regressor(w, y)
            best = predicted_optimum(replace(space, target_tokens=t), fit)  # the caps at t, as a search's
            pred = predict_named(fit, weights, names, MIXTURES)
            measured = {m: cells[cell.key]["mixtures"][m]["mean"] for m in MIXTURES}
            extrapolation["targets"][str(t)] = {
                "regressor": fit["name"],
                "cv_spearman": fit["cv_spearman"][fit["name"]],
                "predicted": pred,
                "measured": measured,
                "predicted_natural_minus_optimum": pred["natural"] - pred["optimum"],
                "measured_natural_minus_optimum": measured["natural"] - measured["optimum"],
                "recommended": dict(zip(names, (best / best.sum()).round(4).tolist(), strict=True)),
            }
            print(f"extrapolated to {t}: {json.dumps(extrapolation['targets'][str(t)])}")
    write_result(
        args.name,
        {
            "search_result": str(Path(args.search_result).resolve().relative_to(RESULTS.parent.parent)),
            "weights": weights,
            "data_sha256": {k: v["sha256"] for k, v in domains.items()},
            "web_sources": list(args.web),
            "seeds": list(seeds),
            "cells": cells,
            "extrapolation": extrapolation,
            "draw_transfer": transfer,
            "refit_check": ceiling,
            "trained": sum(not r.get("cached") for r in runs),
            "wall_s": time.perf_counter() - t0,
        },
        [],  # a diagnosis, not a headline: docs/data-mixture.md reads it
    )


if __name__ == "__main__":
    main()
