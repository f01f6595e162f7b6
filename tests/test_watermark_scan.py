"""WinMax's calibrated scan: under the null the scan's p-value holds its rate and is close to it (not the
Bonferroni bound's fraction of it), the Hunter-Worsley bound covers the simulated tail, a longer rung is
conservative, the tables cache on disk safely, and the windows map back to the text's positions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_addons.watermark import WatermarkConfig, WatermarkDetector, scan
from hf_addons.watermark.detector import binomial_p_value

GAMMA, MIN_WINDOW = 0.25, 16


def _se(alpha: float, n: int) -> float:
    return math.sqrt(alpha * (1 - alpha) / n)


def test_scan_p_value_holds_its_rate_and_uses_it():
    """Fresh null texts (not the tables' seed): P(p_scan <= a) is at most a and more than half of it; a
    Bonferroni bound over the ~1,500 windows of a 150-token text gives under a tenth of it."""
    det = WatermarkDetector(WatermarkConfig(hashing_key=3, gamma=GAMMA))
    gen = torch.Generator().manual_seed(2024)
    n = 20000
    null = torch.rand(n, 150, generator=gen) < GAMMA
    out = det.window_scores(null, torch.ones_like(null))
    p_scan = out["p_scan"].numpy()
    bonferroni = (out["tests"].numpy() - 1) * out["p_shorter"].numpy()
    for alpha in (0.05, 0.01):
        size = (p_scan <= alpha).mean()
        assert 0.6 * alpha < size <= alpha + 3 * _se(alpha, n), (alpha, size)
        assert (bonferroni <= alpha).mean() < 0.1 * alpha
    # the combined p (half to the whole text, half to the scan) keeps the nominal rate and most of it
    p = out["p"].numpy()
    assert 0.03 < (p <= 0.05).mean() <= 0.05 + 3 * _se(0.05, n)


def test_texts_with_gaps_are_calibrated_by_their_scored_tokens():
    det = WatermarkDetector(WatermarkConfig(hashing_key=3, gamma=GAMMA))
    gen = torch.Generator().manual_seed(5)
    n = 8000
    scored = torch.rand(n, 300, generator=gen) < 0.6
    green = (torch.rand(n, 300, generator=gen) < GAMMA) & scored
    out = det.window_scores(green, scored)
    assert (out["p_scan"].numpy() <= 0.05).mean() <= 0.05 + 3 * _se(0.05, n)
    # each window is reported in positions, holding exactly the scored tokens it was scored on
    s, e = out["start"].tolist(), out["end"].tolist()
    for i in range(0, n, 97):
        assert 0 <= s[i] < e[i] <= 300
        assert int(scored[i, s[i] : e[i]].sum()) == int(out["num_scored"][i])
        assert int(green[i, s[i] : e[i]].sum()) == int(out["num_green"][i])
        if int(out["num_scored"][i]) < int(scored[i].sum()):  # a shorter window: tight around its tokens
            assert scored[i, s[i]] and scored[i, e[i] - 1]


def test_hunter_worsley_covers_the_simulated_tail_and_beats_bonferroni():
    m = 150
    sims = scan.simulate_min_p(m, GAMMA, MIN_WINDOW, n=40000, seed=9)
    lengths = scan.window_lengths(m, MIN_WINDOW)
    windows = sum(m - w + 1 for w in lengths)
    for q in (1e-2, 1e-3):
        x = sims[int(q * sims.size)]
        bound = float(scan.hunter_worsley(np.array([x]), np.array([m]), GAMMA, MIN_WINDOW)[0])
        empirical = (sims <= x).mean()
        assert bound >= empirical - 3 * _se(empirical, sims.size), (q, bound, empirical)
        assert bound < windows * x / 2, (q, bound, windows * x)


def test_a_longer_text_is_a_conservative_calibration():
    """A row uses the table of the next rung >= its length: that null is stochastically smaller."""
    m = 100
    rung = int(scan.ladder_rungs(np.array([m]), MIN_WINDOW)[0])
    assert m <= rung <= math.ceil(m * scan.LADDER_GROWTH) + 1
    short = scan.simulate_min_p(m, GAMMA, MIN_WINDOW, n=20000, seed=1)
    longer = scan.simulate_min_p(rung + 40, GAMMA, MIN_WINDOW, n=20000, seed=2)
    for q in (0.01, 0.05, 0.2):
        assert np.quantile(longer, q) <= np.quantile(short, q)
    rungs = scan.ladder_rungs(np.arange(1, 5000), MIN_WINDOW)
    assert (rungs >= np.arange(1, 5000)).all() and (np.diff(rungs) >= 0).all()


def test_null_tables_are_cached_on_disk_and_a_broken_file_is_simulated_again(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ADDONS_CACHE", str(tmp_path))
    monkeypatch.setattr(scan, "N_SIMULATIONS", 4096)
    scan.null_table.cache_clear()
    try:
        table = scan.null_table(60, GAMMA, MIN_WINDOW)
        (path,) = (tmp_path / "winmax").glob("null-60-*.npy")
        assert np.array_equal(np.load(path), table) and (np.diff(table) >= 0).all()
        scan.null_table.cache_clear()
        path.write_bytes(b"truncated")
        again = scan.null_table(60, GAMMA, MIN_WINDOW)
        assert np.array_equal(again, table) and np.array_equal(np.load(path), table)
        assert not list((tmp_path / "winmax").glob("*.tmp"))
    finally:
        scan.null_table.cache_clear()


@pytest.mark.parametrize("span,green_rate", [(40, 0.7), (60, 0.6)])
def test_the_calibration_finds_weak_spans_bonferroni_misses(span, green_rate):
    det = WatermarkDetector(WatermarkConfig(hashing_key=3, gamma=GAMMA))
    gen = torch.Generator().manual_seed(11)
    x = torch.rand(600, 400, generator=gen) < GAMMA
    x[:, 100 : 100 + span] = torch.rand(600, span, generator=gen) < green_rate
    out = det.window_scores(x, torch.ones_like(x))
    p = out["p"].numpy()
    half_bonferroni = np.minimum(
        2 * out["p_text"].numpy(), 2 * (out["tests"].numpy() - 1) * out["p_shorter"].numpy()
    )
    assert (p <= half_bonferroni * (1 + 1e-6)).all()  # never weaker, row by row
    assert (p <= 1e-3).mean() > (half_bonferroni <= 1e-3).mean() + 0.05
    assert (p <= 1e-3).mean() > (
        binomial_p_value(x.sum(1).numpy(), np.full(600, 400), GAMMA) <= 1e-3
    ).mean() + 0.4
