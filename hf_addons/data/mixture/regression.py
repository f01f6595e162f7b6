"""RegMix's regression: mixture weights -> objective, chosen by cross-validated rank correlation, and the
predicted optimum under the search's constraints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hf_addons.data.mixture.space import SearchSpace

SHARE_FLOOR = 0.01  # log(w + 1%): finite for a dropped source, and a share's effect saturates near zero


def features(w: np.ndarray, kind: str) -> np.ndarray:
    return np.log(w + SHARE_FLOOR) if kind == "linear-log" else w


def _regressors(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import RidgeCV

    return {
        "linear-log": RidgeCV(alphas=np.logspace(-4, 2, 13)),
        "gradient-boosting": GradientBoostingRegressor(
            n_estimators=300, learning_rate=0.05, max_depth=2, subsample=0.8, random_state=seed
        ),
    }


def fit_regressor(
    w: np.ndarray,
    y: np.ndarray,
    seed: int = 0,
    folds: int = 5,
    repeats: int = 5,
    subset: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
) -> dict[str, Any]:
    """Cross-validated Spearman of each regressor's out-of-fold predictions; the best one refitted on all.

    With a few dozen runs one K-fold split's Spearman moves by +-0.1 with the split, so the score is the mean
    over ``repeats`` shuffled splits (``cv_spearman_sd``: their spread); ``oof`` is the first split's.
    ``subset`` (row indices): also score those rows' out-of-fold predictions alone (``cv_spearman_subset``),
    e.g. the random draws without the corner runs, whose extreme losses are easy to rank. ``y_test``: the
    same runs' objective on test sets that nothing was fitted to; ``cv_spearman_test`` scores the same
    out-of-fold predictions against it (does the ranking hold on text the choice never read?), over the
    ``subset`` rows when given.
    """
    import sklearn

    if len(y) < max(folds, 4):
        raise ValueError(f"need at least {max(folds, 4)} proxy runs to fit and cross-validate, have {len(y)}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(
            f"proxy runs {bad.tolist()} have a non-finite objective ({y[bad].tolist()}): a diverged run"
        )
    # inputs checked here once: sklearn's per-fit checks were ~40% of the 26 x 300 boosting stages' time
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        return _fit_and_score(w, y, seed, folds, repeats, subset, y_test)


def _fit_and_score(w, y, seed, folds, repeats, subset, y_test) -> dict[str, Any]:
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold

    scores, spread, oof, sub, on_test = {}, {}, {}, {}, {}
    for name, reg in _regressors(seed).items():
        rhos, sub_rhos, test_rhos = [], [], []
        for r in range(repeats):
            pred = np.zeros_like(y)
            for tr, te in KFold(folds, shuffle=True, random_state=seed + r).split(w):
                reg.fit(features(w[tr], name), y[tr])
                pred[te] = reg.predict(features(w[te], name))
            rhos.append(float(spearmanr(pred, y).statistic))
            if subset is not None:
                sub_rhos.append(float(spearmanr(pred[subset], y[subset]).statistic))
            if y_test is not None:
                rows = slice(None) if subset is None else subset
                test_rhos.append(float(spearmanr(pred[rows], np.asarray(y_test)[rows]).statistic))
            oof.setdefault(name, pred)
        scores[name], spread[name] = float(np.mean(rhos)), float(np.std(rhos))
        if subset is not None:
            sub[name] = float(np.mean(sub_rhos))
        if y_test is not None:
            on_test[name] = float(np.mean(test_rhos))
    best = max(scores, key=scores.get)
    model = _regressors(seed)[best].fit(features(w, best), y)
    return {
        "name": best,
        "model": model,
        "cv_spearman": scores,
        "cv_spearman_sd": spread,
        "cv_spearman_subset": sub,
        "cv_spearman_test": on_test,
        "oof": oof[best],
    }


def predicted_optimum(
    space: SearchSpace,
    fit: Mapping[str, Any],
    seed: int = 0,
    candidates: int = 100_000,
    top_k: int = 100,
) -> np.ndarray:
    """RegMix's recommendation from a :func:`fit_regressor` fit: the mean of the ``top_k`` of ``candidates``
    constrained mixtures it scores lowest (a mean of feasible mixtures is feasible: the constraints are
    convex). The epoch caps hold at ``space.budget``: give the space a ``target_tokens`` for another run's."""
    cand = space.sample(candidates, np.random.default_rng(seed + 1), concentration=(0.1, 0.3, 1, 3, 10))
    pred = fit["model"].predict(features(cand, fit["name"]))
    return cand[np.argsort(pred)[:top_k]].mean(0)
