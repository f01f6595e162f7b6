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
