"""The rank-transfer summary of ``benchmarks/mixture_scale_transfer.py --draws``: its numbers, on made-up cells."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import mixture_scale_transfer as transfer  # noqa: E402  (a script of the repo: a broken import must fail)


def _cell(per_seed: dict[str, list[float]], draws: list[str]) -> dict:
    spread = {m: {"objective": v, "mean": float(np.mean(v))} for m, v in per_seed.items()}
    return {
        "mixtures": {m: spread[m] for m in ("optimum", "natural", "uniform")},
        "draws": {m: spread[m] for m in draws},
    }


def test_draw_transfer_reports_rank_correlation_and_leads_seed_by_seed():
    draws = [f"draw{i}" for i in range(6)]
    small = transfer.Cell(128, 2, 200_000)
    large = transfer.Cell(264, 4, 1_000_000)
    first = {"optimum": [5.0], "natural": [5.3], "uniform": [5.15]}
    first |= {d: [5.1 + 0.1 * i] for i, d in enumerate(draws)}
    # the large cell keeps the draws' order except one swap (draw4 <-> draw5), two seeds each
    second = {"optimum": [4.0, 4.2], "natural": [4.5, 4.3], "uniform": [4.1, 4.4]}
    means = [3.9, 4.0, 4.2, 4.3, 4.6, 4.5]
    second |= {d: [m - 0.05, m + 0.05] for d, m in zip(draws, means, strict=True)}
    cells = {small.key: _cell(first, draws), large.key: _cell(second, draws)}
    weights = {d: {"a": i / 10, "b": 1 - i / 10} for i, d in enumerate(draws)}

    out = transfer.draw_transfer(cells, [small, large], weights, draws, boot=200)

    assert "spearman_vs_first" not in out[small.key]
    assert out[large.key]["spearman_vs_first"] == pytest.approx(1 - 6 * 2 / (6 * 35))  # one adjacent swap
    lo, hi = out[large.key]["spearman_ci95"]
    assert lo <= out[large.key]["spearman_vs_first"] <= hi <= 1
    # the better baseline per seed is uniform on seed 1 (4.1) and natural on seed 2 (4.3): mean 4.2
    assert out[large.key]["best_draw"] == "draw0"
    assert out[large.key]["best_draw_weights"] == weights["draw0"]
    assert out[large.key]["best_draw_lead"] == pytest.approx(4.2 - 3.9)
    assert out[large.key]["optimum_lead"] == pytest.approx(4.2 - 4.1)
    assert out[large.key]["draws_below_both_baselines"] == 2  # draw0 (3.9) and draw1 (4.0)
    # at the small cell only draw0 (5.1) is below uniform (5.15)
    assert out[small.key]["best_draw_lead"] == pytest.approx(5.15 - 5.1)
    assert out[small.key]["draws_below_both_baselines"] == 1


def test_refit_recommends_the_planted_minimum_and_checks_it_by_the_issue_rule():
    from hf_addons.data.mixture.space import SearchSpace

    names = ["code", "math", "web"]
    space = SearchSpace(
        tokens=dict.fromkeys(names, 10**7),
        tokens_per_run=200_000,
        min_share=dict.fromkeys(names, 0.0),
        max_share=dict.fromkeys(names, 1.0),
        max_epochs=dict.fromkeys(names, 4.0),
        target_tokens=1_000_000,
    )
    rng = np.random.default_rng(0)
    planted = np.array([0.5, 0.3, 0.2])
    w = rng.dirichlet(np.ones(3), size=24)
    # a loss convex in log-shares with its minimum at the planted mixture (sum_k p_k log(1/w_k) is smallest
    # at w = p), the form the linear-log regressor fits exactly
    y = 4.0 - (np.log(w + 0.01) @ planted)
    draws = [f"draw{i}" for i in range(21)]
    mixtures = ["optimum", "natural", "uniform", *draws]
    weights = {m: dict(zip(names, row.tolist(), strict=True)) for m, row in zip(mixtures, w, strict=True)}
    per_seed = {m: [float(v)] for m, v in zip(mixtures, y, strict=True)}
    cell = _cell(per_seed, draws)

    best, fit = transfer.refit_at_cell(cell, weights, mixtures, space, {"min_weight": 1e-3})

    assert fit["name"] == "linear-log" and fit["cv_spearman"]["linear-log"] > 0.95
    assert best.sum() == pytest.approx(1)
    assert np.abs(best - planted).max() < 0.05

    large = transfer.Cell(264, 4, 1_000_000)
    weights["refit"] = dict(zip(names, best.tolist(), strict=True))
    objective = {"code": 0.5, "web": 0.5}

    def run(code: float, web: float) -> dict:
        return {"val_loss": {"code": code, "web": web}, "parameters": 5_000_000, "spec": {}}

    # two fresh seeds: the refit lower than uniform (the better baseline) by 0.06, spreads at most 0.04
    jobs = [(m, s) for s in (1002, 1003) for m in ("refit", "natural", "uniform")]
    runs = [run(4.0, 4.0), run(4.2, 4.2), run(4.05, 4.05), run(4.02, 4.02), run(4.23, 4.23), run(4.09, 4.09)]
    out = transfer.ceiling_check(jobs, runs, objective, large, fit, weights, names)
    check = out["check"]
    assert out["seeds"] == [1002, 1003]
    assert check["best_baseline"] == "uniform"
    assert check["margin"] == pytest.approx(4.07 - 4.01)
    assert check["max_seed_spread"] == pytest.approx(0.04)
    assert check["met"] is True
    # the same lead with a noisier natural (spread 0.1) is not enough
    runs[4] = run(4.3, 4.3)
    assert transfer.ceiling_check(jobs, runs, objective, large, fit, weights, names)["check"]["met"] is False
