"""Detector: calibration ((seed, token) counted once, exact binomial p-values, ``fpr=``), batch-safety
(a text gives the same result in any batch), bad input (a reason, never an exception), key hygiene."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binom

import hf_addons.watermark.config as config_module
from hf_addons.watermark import (
    PublicKeyWarning,
    WatermarkConfig,
    WatermarkDetector,
    WatermarkLogitsProcessor,
    load_metric,
)
from hf_addons.watermark.detector import NOT_ENOUGH, binomial_p_value
from hf_addons.watermark.hashing import GreenHasher

REPO = Path(__file__).resolve().parents[1]
SCHEMES = [("lefthash", 1), ("lefthash", 3), ("minhash", 4), ("selfhash", 4), ("unigram", 1)]


def _same(a, b) -> bool:
    """Results equal field for field (NaN equal to NaN)."""
    da, db = a.to_dict(), b.to_dict()
    return da == db


# --- calibration -----------------------------------------------------------------------------------------------
def test_lefthash_counts_the_same_decisions_under_seed_and_ngram_rules():
    ids = torch.randint(0, 30, (8, 400), generator=torch.Generator().manual_seed(0))  # many repeats
    cfg = WatermarkConfig(hashing_key=5)
    by_seed = WatermarkDetector(cfg).score_ids(ids)
    by_ngram = WatermarkDetector(cfg, count_once="ngram").score_ids(ids)
    assert torch.equal(by_seed["scored"], by_ngram["scored"]) and torch.equal(
        by_seed["green"], by_ngram["green"]
    )
    assert (by_seed["num_scored"] < 399).all() and (by_seed["num_scored"] > 100).all()


def test_selfhash_counts_a_seed_token_pair_once_across_contexts():
    cfg = WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=9)
    ranks = GreenHasher(cfg).token_rank(torch.arange(1000))
    m = int(ranks.argmin())  # the lowest-ranked token: it sets the seed of every window it is in
    a, b, x1, x2, t = [v for v in range(1000) if v != m][:5]
    seq = torch.tensor([[a, m, x1, t, b, m, x2, t]])
    seed = WatermarkDetector(cfg).score_ids(seq)
    ngram = WatermarkDetector(cfg, count_once="ngram").score_ids(seq)
    # t after (a, m, x1) and after (b, m, x2): two n-grams, one (seed, token) decision
    assert ngram["scored"][0, 7] and not seed["scored"][0, 7]
    assert seed["green"][0, 3] == ngram["green"][0, 7]  # the same decision indeed
    assert ngram["num_scored"].item() == seed["num_scored"].item() + 1


def test_exact_binomial_p_values_and_fpr_threshold():
    g, n, gamma = np.array([0, 5, 13, 25, 40]), np.array([10, 20, 50, 50, 50]), 0.25
    brute = [
        sum(math.comb(k, j) * gamma**j * (1 - gamma) ** (k - j) for j in range(gi, k + 1))
        for gi, k in zip(g, n)
    ]
    np.testing.assert_allclose(binomial_p_value(g, n, gamma), brute, rtol=1e-10)
    assert math.isnan(binomial_p_value(0, 0, gamma))
    cfg = WatermarkConfig(hashing_key=3)
    ids = torch.randint(0, 5000, (40, 60), generator=torch.Generator().manual_seed(1))
    scores = WatermarkDetector(cfg).score_ids(ids)
    np.testing.assert_allclose(
        scores["p"].numpy(), binom.sf(scores["num_green"].numpy() - 1, scores["num_scored"].numpy(), 0.25)
    )
    det = WatermarkDetector(cfg, fpr=0.2)
    res = det.detect_ids(ids)
    assert [r.prediction for r in res] == [r.p_value <= 0.2 for r in res]
    assert any(r.prediction for r in res) and not all(r.prediction for r in res)
    assert all(r.fpr == 0.2 for r in res)
    with pytest.raises(ValueError, match="fpr"):
        WatermarkDetector(cfg, fpr=0.0)


@pytest.mark.parametrize("scheme,width", SCHEMES)
def test_p_values_are_uniform_on_random_tokens(scheme, width):
    """Under H0 (text independent of the key) P(p <= a) <= a: 20 keys x 200 texts of 50 tokens."""
    ids = torch.randint(0, 2000, (200, 50), generator=torch.Generator().manual_seed(2))
    ps = []
    for key in range(20):
        cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=1000 + key)
        ps.append(WatermarkDetector(cfg).score_ids(ids)["p"])
    p = torch.cat(ps)
    for alpha in (0.01, 0.05):
        k, n = int((p <= alpha).sum()), p.numel()
        assert binom.sf(k - 1, n, alpha) > 1e-4, (alpha, k / n)  # not significantly above alpha


def test_real_code_and_html_are_calibrated_for_every_scheme(tokenizer, shared):
    """The property the calibration benchmark measures at scale, on a small real sample: human code and HTML,
    100-token windows, 10 keys: std of z near 1 and no more flags at p <= 1e-3 than the binomial allows."""
    import hf_addons

    html_dir = shared("data", "article-extraction", "html")
    sources = sorted(Path(hf_addons.__file__).parent.rglob("*.py"))[:40]
    texts = [p.read_text(errors="replace") for p in sources]
    texts += [p.read_text(errors="replace") for p in sorted(html_dir.iterdir())[:6]]
    windows = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        windows += [ids[s : s + 100] for s in range(0, len(ids) - 99, 100)]
    windows = torch.tensor(windows[:600])
    assert len(windows) >= 300
    for scheme, width in [("lefthash", 1), ("minhash", 4), ("selfhash", 4), ("unigram", 1)]:
        zs, ps = [], []
        for key in range(10):
            cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=77 + key)
            out = WatermarkDetector(cfg).score_ids(windows)
            zs.append(out["z"])
            ps.append(out["p"])
        z, p = torch.cat(zs), torch.cat(ps)
        assert 0.85 < float(z.std()) < 1.15, (scheme, float(z.std()))
        k = int((p <= 1e-3).sum())
        assert binom.sf(k - 1, p.numel(), 2e-3) > 1e-3, (scheme, k, p.numel())


def test_windowed_p_values_hold_their_rate_and_keep_the_plain_tests_power():
    """WinMax under the null (green ~ Bernoulli(gamma), all scored) never flags more than its nominal rate, and
    its p-value is at most twice the whole text's: evenly damaged text keeps the plain test's power at alpha/2,
    while a pasted span the whole text dilutes is still found."""
    det = WatermarkDetector(WatermarkConfig(hashing_key=3, gamma=0.25))
    gen = torch.Generator().manual_seed(0)
    null = torch.rand(4000, 150, generator=gen) < 0.25
    out = det.window_scores(null, torch.ones_like(null))
    p_text = binomial_p_value(null.sum(1).numpy(), np.full(4000, 150), 0.25)
    for alpha in (0.05, 0.01):
        size = (out["p"].numpy() <= alpha).mean()
        assert size <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / 4000), (alpha, size)
    # most of the rate is used: not the ~0.02 of a Bonferroni bound over the ~1,500 shorter windows
    assert (out["p"].numpy() <= 0.05).mean() > 0.03
    assert (out["p"].numpy() <= 2 * p_text + 1e-12).all()
    # evenly damaged: every token green with probability 0.4
    weak = torch.rand(2000, 150, generator=gen) < 0.4
    wout = det.window_scores(weak, torch.ones_like(weak))
    p_weak = binomial_p_value(weak.sum(1).numpy(), np.full(2000, 150), 0.25)
    assert ((wout["p"].numpy() <= 1e-3) >= (p_weak <= 5e-4)).all() and (p_weak <= 5e-4).mean() > 0.5
    # a 40-token span, 90% green, pasted into 400 human tokens: the whole text dilutes it, the scan finds it
    mixed = torch.rand(500, 400, generator=gen) < 0.25
    mixed[:, 200:240] = torch.rand(500, 40, generator=gen) < 0.9
    mout = det.window_scores(mixed, torch.ones_like(mixed))
    p_mixed = binomial_p_value(mixed.sum(1).numpy(), np.full(500, 400), 0.25)
    found = mout["p"].numpy() <= 1e-3
    assert found.mean() > 0.9 and (p_mixed <= 1e-3).mean() < found.mean() - 0.3
    on_span = (mout["start"].numpy() < 240) & (mout["end"].numpy() > 200)
    assert on_span[found].all()


# --- batch-safety ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme,width", [("lefthash", 1), ("selfhash", 4), ("unigram", 1)])
def test_a_row_gives_the_same_result_in_any_batch(scheme, width):
    g = torch.Generator().manual_seed(3)
    rows = [torch.randint(0, 3000, (int(n),), generator=g).tolist() for n in (0, 2, 17, 40, 260, 90, 600, 5)]
    det = WatermarkDetector(WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=4))
    for windowed in (False, True):
        batch = det.detect_ids(rows, windowed=windowed)
        alone = [det.detect_ids([r], windowed=windowed)[0] for r in rows]
        assert all(_same(a, b) for a, b in zip(batch, alone))
        rev = det.detect_ids(rows[::-1], windowed=windowed)[::-1]
        assert all(_same(a, b) for a, b in zip(rev, alone))
    # the same rows as a left-padded tensor with a mask (generate's layout): same results again
    width_ = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width_, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        if r:
            ids[i, width_ - len(r) :] = torch.tensor(r)
            mask[i, width_ - len(r) :] = 1
    padded = det.detect_ids(ids, attention_mask=mask, windowed=True)
    assert all(_same(a, b) for a, b in zip(padded, det.detect_ids(rows, windowed=True)))
    long_row = det.detect_ids([rows[6]], windowed=True)[0]
    assert long_row.window is not None and long_row.window["windows_tested"] > 0
    assert 0 <= long_row.window["start"] < long_row.window["end"] <= 600


def test_texts_of_any_length_batch_safe_and_windowed(tokenizer):
    det = WatermarkDetector(
        WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=6), tokenizer
    )
    base = (REPO / "docs" / "watermark.md").read_text()
    texts = ["", "Hi", base[:60], base[:3000], base[5000:5400], "x" * 10, base[:900]]
    for windowed in (False, True):
        batch = det.detect(texts, windowed=windowed)  # used to raise IndexError with windowed=True
        for text, r in zip(texts, batch):
            assert _same(r, det.detect(text, windowed=windowed))
            if r.window is not None:
                w = r.window
                assert 0 <= w["start"] < w["end"] <= len(r.token_ids)
                assert 0 <= w["char_start"] < w["char_end"] <= len(text)
    # the correction counts the windows of that text only
    long_alone = det.detect(base[:3000], windowed=True).window["windows_tested"]
    with_longer = det.detect([base[:3000], base], windowed=True)[0].window["windows_tested"]
    assert long_alone == with_longer


def test_evaluate_metric_add_batch_matches_single_texts(tokenizer):
    metric = load_metric()
    base = (REPO / "docs" / "watermark.md").read_text()
    texts = [base[:1200], "", base[2000:2100], base[3000:5500]]
    cfg = dict(hashing_key=12, windowed=True)
    metric.add_batch(predictions=texts[:2])
    metric.add_batch(predictions=texts[2:])
    streamed = metric.compute(**cfg)
    for i, t in enumerate(texts):
        alone = load_metric().compute(predictions=[t], **cfg)
        for k in ("z_score", "p_value", "prediction", "num_tokens_scored", "window_p_value"):
            a, b = streamed[k][i], alone[k][0]
            assert a == b or (a != a and b != b), (k, i, a, b)  # NaN == NaN
    assert streamed["prediction"][1] is None and streamed["reason"][1]


# --- bad input -------------------------------------------------------------------------------------------------
def test_bad_items_get_a_reason_never_an_exception(tokenizer):
    ignored_only = ". , . , . , . , . ,"
    ignored = sorted(set(tokenizer(ignored_only, add_special_tokens=False)["input_ids"]))
    cfg = WatermarkConfig(seeding_scheme="lefthash", context_width=3, hashing_key=8, ignore_token_ids=ignored)
    det = WatermarkDetector(cfg, tokenizer)
    good = "A sentence long enough to be scored by the detector, with a few more words."
    items = ["", "Hi", ignored_only, good, [5, 6, 7, 8, 9, 10], None, [1.5, 2.0], [-3, 4], [10**9], 42]
    res = det.detect(items, windowed=True)
    assert len(res) == len(items)
    reasons = [r.reason for r in res]
    assert "no tokens" in reasons[0]
    assert "context" in reasons[1] and reasons[1].startswith(NOT_ENOUGH)
    assert "ignore_token_ids" in reasons[2]
    assert reasons[3] is None and res[3].prediction is not None
    assert reasons[4] is None and res[4].num_tokens_scored == 3 and res[4].tokens is None
    assert "unsupported input of type NoneType" in reasons[5]
    assert "integers" in reasons[6]
    assert ">= 0" in reasons[7]
    assert "outside the tokenizer" in reasons[8]
    assert "unsupported input of type int" in reasons[9]
    for r in res[:3] + res[5:]:
        assert r.prediction is None and math.isnan(r.z_score) and r.window is None
    # the good items score as they do alone
    assert _same(res[3], det.detect(good, windowed=True))
    assert _same(res[4], det.detect_ids([[5, 6, 7, 8, 9, 10]], windowed=True)[0])


# --- key hygiene -----------------------------------------------------------------------------------------------
def test_the_key_never_shows_in_reprs_or_logs(tokenizer, caplog):
    key = 918273645546372
    cfg = WatermarkConfig(hashing_key=key, seeding_scheme="selfhash", context_width=2)
    det = WatermarkDetector(cfg, tokenizer)
    proc = WatermarkLogitsProcessor(cfg)
    with caplog.at_level(logging.DEBUG):
        res = det.detect(["Some text to score for the key test.", ""], windowed=True)
        logging.getLogger("hf_addons").info("config: %s %r", cfg, det)
    shown = [repr(cfg), str(cfg), repr(det), repr(proc), str(res), caplog.text, str(cfg.to_dict())]
    assert all(str(key) not in s for s in shown)
    assert "<secret>" in repr(cfg) and "selfhash" in repr(cfg)
    passphrase = WatermarkConfig(hashing_key="correct horse battery staple")
    assert "horse" not in repr(passphrase) and "horse" not in str(passphrase)


def test_public_default_key_warns_once(monkeypatch):
    monkeypatch.setattr(config_module, "_public_key_warned", False)
    with pytest.warns(PublicKeyWarning, match="public default hashing_key") as record:
        WatermarkDetector(WatermarkConfig())
        WatermarkLogitsProcessor(WatermarkConfig())
        WatermarkDetector(WatermarkConfig(hashing_key=15485863))
    assert sum(issubclass(w.category, PublicKeyWarning) for w in record) == 1
    assert "<public default>" in repr(WatermarkConfig())
    monkeypatch.setattr(config_module, "_public_key_warned", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PublicKeyWarning)
        WatermarkDetector(WatermarkConfig(hashing_key="a secret"))  # no warning for a real key


def test_load_metric_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = load_metric().compute(
        predictions=["Some human text to score, from another directory."], hashing_key=5
    )
    assert out["prediction"] == [0] and out["num_tokens_scored"][0] > 5


@pytest.mark.slow
def test_metric_loads_from_a_non_editable_install(tmp_path):
    """Build the wheel, install it into a plain directory, and load the metric from an unrelated cwd."""
    import shutil

    src, wheel_dir, target, cwd = tmp_path / "src", tmp_path / "wheel", tmp_path / "site", tmp_path / "cwd"
    cwd.mkdir()
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(REPO / "hf_addons", src / "hf_addons", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheel_dir, src], check=True)
    wheel = next(wheel_dir.glob("hf_addons-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True)
    code = (
        "import hf_addons, evaluate; from hf_addons.watermark import load_metric, metric_path\n"
        f"assert hf_addons.__file__.startswith({str(target)!r}), hf_addons.__file__\n"
        "out = load_metric().compute(predictions=['A plain human sentence to score here.'], hashing_key=5)\n"
        "assert out['prediction'] == [0]\n"
        "assert evaluate.load(metric_path()).compute(predictions=['Another one.'], hashing_key=5)\n"
        "print('OK', metric_path())"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout and str(target) in done.stdout
