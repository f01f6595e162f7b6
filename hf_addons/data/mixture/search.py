"""RegMix-style mixture search: small proxy models on random mixtures, a regression, the predicted optimum.

RegMix (Liu et al. 2024) trains many tiny models on mixtures sampled around the natural token distribution,
fits a regression from mixture weights to validation loss and takes the mixture with the lowest predicted
loss; the ranking of mixtures from ~1M-parameter proxies carried over to 1B models. Here every proxy is a
``transformers`` causal LM trained with ``Trainer`` on a token-true mixture from :func:`build_mixture`, each
run is a cached unit on disk (resumable, parallel across processes), and the result is a
:class:`SearchResult` whose ``weights`` go straight back into ``build_mixture``.

    result = search_mixture(train_sources, validation_sources, objective="mean", cache_dir="runs/")
    mixture = build_mixture(train_sources, result.weights, num_tokens=10**9)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.mixture.bundle import prepare, save_bundle
from hf_addons.data.mixture.mixture import build_mixture
from hf_addons.data.mixture.proxy import ProxyConfig, proxy_spec, run_proxies
from hf_addons.data.mixture.regression import features, fit_regressor, predicted_optimum
from hf_addons.data.mixture.space import (
    CONCENTRATION,
    Objective,
    SearchSpace,
    objective_on_test,
    parse_objective,
    score_objective,
)


@dataclass
class SearchResult:
    """The recommended mixture and the evidence for it; ``build(...)`` feeds it to ``build_mixture``."""

    weights: dict[str, float]
    predicted_objective: float
    objective: dict[str, float]
    natural: dict[str, float]
    regressor: str
    cv_spearman: dict[str, float]
    runs: list[dict[str, Any]]
    oof_predictions: list[float]
    space: SearchSpace
    proxy: ProxyConfig
    parameters: int
    wall_seconds: float
    model: Any = field(default=None, repr=False)
    cv_spearman_sd: dict[str, float] = field(default_factory=dict)
    bundle_path: str | None = field(default=None, repr=False)  # the tokenized data, for check_at_scale
    corner_runs: int = 0  # the last ones are single sources (``search_mixture(corners=True)``)
    corners_skipped: dict[str, str] = field(default_factory=dict)
    cv_spearman_draws: dict[str, float] = field(default_factory=dict)  # without the corner runs
    concentration: tuple[float, ...] = CONCENTRATION  # of the draws' Dirichlet, per source
    min_weight: float = 0.0  # recommended shares under it were set to 0
    cache_dir: str | None = field(default=None, repr=False)
    # the objective on the held-out test sets (``search_mixture(test=...)``), which no choice read
    test_objective: dict[str, float] = field(default_factory=dict)
    cv_spearman_test: dict[str, float] = field(default_factory=dict)  # the CV predictions against it

    def measured(self) -> np.ndarray:
        return np.asarray([score_objective(r["val_loss"], self.objective) for r in self.runs])

    def measured_test(self) -> np.ndarray:
        """Each run's objective on the test sets (empty without them)."""
        if not self.test_objective:
            return np.asarray([])
        return np.asarray([score_objective(r["val_loss"], self.test_objective) for r in self.runs])

    def predict(self, weights: Sequence[Mapping[str, float]] | np.ndarray) -> np.ndarray:
        names = self.space.names
        w = (
            np.asarray([[m[s] for s in names] for m in weights])
            if not isinstance(weights, np.ndarray)
            else weights
        )
        return self.model.predict(features(w, self.regressor))

    def predicted_leads(self) -> dict[str, float]:
        """What the fit expects the recommendation to gain: the predicted objective at the natural and at the
        uniform mixture minus at the recommendation, next to the regression's out-of-fold error on one run
        (``oof_rmse``). A lead below that error is one a single run at this scale could not show; how a lead
        carries to a larger model is for ``check_at_scale`` to measure (on this project's corpora, proxy
        leads of 0.02-0.17 over the better of the two shrank to within seed noise, ``docs/data-mixture.md``)."""
        if self.model is None or not self.runs:  # a result rebuilt without its runs: nothing to predict from
            return {}
        names = self.space.names
        natural, uniform, rec = self.predict(
            [self.natural, dict.fromkeys(names, 1 / len(names)), self.weights]
        ).tolist()
        oof = np.asarray(self.oof_predictions, dtype=float)
        return {
            "natural": natural - rec,
            "uniform": uniform - rec,
            "oof_rmse": float(np.sqrt(np.mean((oof - self.measured()) ** 2))),
        }

    def _lead_sentence(self) -> str:
        """The card's words on ``predicted_leads``, ending the sentence."""
        lead = self.predicted_leads()
        if not lead:
            return "."
        text = (
            f", {lead['natural']:+.4f} at the natural mixture and {lead['uniform']:+.4f} at uniform weights, "
            f"against an out-of-fold prediction error of {lead['oof_rmse']:.4f} per run"
        )
        if min(lead["natural"], lead["uniform"]) < lead["oof_rmse"]:
            text += " (the lead over one of them is within that error: a single run at this scale could not show it)"
        return text + "."

    def build(self, sources: Mapping[str, Any], **kwargs: Any) -> Any:
        """``build_mixture(sources, self.weights, **kwargs)``."""
        return build_mixture(sources, self.weights, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "predicted_objective": self.predicted_objective,
            "objective": self.objective,
            "natural": self.natural,
            "regressor": self.regressor,
            "cv_spearman": self.cv_spearman,
            "cv_spearman_sd": self.cv_spearman_sd,
            "runs": len(self.runs),
            "corner_runs": self.corner_runs,
            "corners_skipped": self.corners_skipped,
            "cv_spearman_draws": self.cv_spearman_draws,
            "test_objective": self.test_objective,
            "cv_spearman_test": self.cv_spearman_test,
            "concentration": list(self.concentration),
            "min_weight": self.min_weight,
            "tokens_per_run": self.space.tokens_per_run,
            "proxy": asdict(self.proxy),
            "proxy_parameters": self.parameters,
            "constraints": {
                "min_share": self.space.min_share,
                "max_share": self.space.max_share,
                "max_epochs": self.space.max_epochs,
                "at_tokens": self.space.budget,
            },
            "target_tokens": self.space.target_tokens,
            "predicted_leads": self.predicted_leads(),
            "wall_seconds": self.wall_seconds,
        }

    def plot(self, path: str | Path, domains: tuple[str, str] | None = None) -> Path:
        """Predicted (out-of-fold) vs measured objective, and the predicted surface over two domains' shares."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = self.space.names
        a, b = domains or tuple(sorted(names, key=lambda s: -self.weights[s])[:2])
        y = self.measured()
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
        ax[0].scatter(self.oof_predictions, y, s=18, label="validation sets (chosen by)")
        lo, hi = (
            float(min(y.min(), min(self.oof_predictions))),
            float(max(y.max(), max(self.oof_predictions))),
        )
        ax[0].plot([lo, hi], [lo, hi], "k--", lw=0.8)
        if self.test_objective:  # the same predictions against text nothing chose by
            ax[0].scatter(self.oof_predictions, self.measured_test(), s=18, marker="x", label="test sets")
            ax[0].legend(loc="upper left", fontsize=8)
        ax[0].set_xlabel("predicted (out-of-fold)")
        ax[0].set_ylabel("measured objective (held-out loss)")
        on_test = self.cv_spearman_test.get(self.regressor)
        ax[0].set_title(
            f"{self.regressor}, CV Spearman {self.cv_spearman[self.regressor]:.3f}"
            + ("" if on_test is None else f" (test sets {on_test:.3f})")
        )
        # surface: shares of a and b on a grid, the rest split like the optimum's remainder
        rest = np.asarray([0.0 if s in (a, b) else self.weights[s] for s in names])
        rest = (
            rest / rest.sum() if rest.sum() > 0 else np.asarray([0.0 if s in (a, b) else 1.0 for s in names])
        )
        rest = rest / max(rest.sum(), 1e-12)
        g = np.linspace(0.0, 1.0, 61)
        ga, gb = np.meshgrid(g, g)
        mask = ga + gb <= 1
        w = np.zeros((mask.sum(), len(names)))
        w[:, names.index(a)], w[:, names.index(b)] = ga[mask], gb[mask]
        w += (1 - ga[mask] - gb[mask])[:, None] * rest[None, :]
        z = np.full(ga.shape, np.nan)
        z[mask] = self.predict(w)
        cs = ax[1].contourf(ga, gb, z, levels=20, cmap="viridis")
        fig.colorbar(cs, ax=ax[1], label="predicted objective")
        ax[1].scatter([self.weights[a]], [self.weights[b]], c="red", marker="*", s=120, label="recommended")
        ax[1].scatter([self.natural[a]], [self.natural[b]], c="white", marker="o", s=40, label="natural")
        ax[1].set_xlabel(f"share of {a}")
        ax[1].set_ylabel(f"share of {b}")
        ax[1].set_title("predicted loss surface (other domains in the optimum's ratio)")
        ax[1].legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def to_card(self, check: Any = None) -> str:
        """A dataset-card section saying how the mixture was chosen (with ``check``: what a
        :class:`~hf_addons.data.mixture.scale_check.ScaleCheck` of it measured)."""
        names = self.space.names
        obj = ", ".join(f"{d} {w:.2f}" for d, w in self.objective.items())
        rows = "\n".join(
            f"| {s} | {self.natural[s]:.3f} | {self.weights[s]:.3f} | {self.space.tokens[s]:,} | "
            f"{self.space.min_share[s]:.2f}–{self.space.max_share[s]:.2f} | {self.space.max_epochs[s]} |"
            for s in names
        )
        cv = ", ".join(
            f"{k} {v:.3f}" + (f" ± {self.cv_spearman_sd[k]:.3f}" if k in self.cv_spearman_sd else "")
            for k, v in self.cv_spearman.items()
        )
        conc = (
            ""
            if self.concentration == CONCENTRATION
            else f" (concentration per source {', '.join(f'{c:g}' for c in self.concentration)})"
        )
        return (
            "## Mixture selection\n\n"
            f"The domain weights were chosen by a RegMix-style search (`hf_addons.data.mixture.search`): "
            f"{len(self.runs)} proxy models ({self.parameters / 1e6:.2f}M parameters, Llama, "
            f"{self.proxy.num_layers} layers, hidden {self.proxy.hidden_size}, tied embeddings) were each trained "
            f"with `transformers.Trainer` on {self.space.tokens_per_run:,} tokens of a token-true mixture "
            + (
                f"({len(self.runs) - self.corner_runs} sampled from a Dirichlet around the natural token "
                f"distribution{conc}, {self.corner_runs} of one source alone). "
                if self.corner_runs
                else f"sampled from a Dirichlet around the natural token distribution{conc}. "
            )
            + "A regression from weights to "
            f"validation loss ({self.regressor}; out-of-fold Spearman over 5 shuffled 5-fold splits: {cv}"
            + (
                "; over the sampled runs alone: "
                + ", ".join(f"{k} {v:.3f}" for k, v in self.cv_spearman_draws.items())
                if self.cv_spearman_draws
                else ""
            )
            + ") was minimised over the "
            f"simplex under the constraints below. Objective: validation loss weighted {obj}; predicted "
            f"objective at the recommendation {self.predicted_objective:.4f}{self._lead_sentence()}"
            + (
                " On held-out test sets that neither the regression nor the choice read ("
                + ", ".join(self.test_objective)
                + "), the same out-of-fold predictions rank the runs' objective with Spearman "
                + ", ".join(f"{k} {v:.3f}" for k, v in self.cv_spearman_test.items())
                + "."
                if self.test_objective
                else ""
            )
            + "\n\n"
            + (
                f"The epoch caps hold at {self.space.budget:,} tokens, the run the mixture is for.\n\n"
                if self.space.budget > self.space.tokens_per_run
                else ""
            )
            + "| domain | natural share | recommended share | train tokens | allowed share | max epochs |\n"
            "| --- | --- | --- | --- | --- | --- |\n"
            f"{rows}\n\n"
            "Proxy-scale rankings are a prediction, not a measurement at full scale: check the recommendation "
            "with a larger model before committing compute to it (`check_at_scale`).\n"
            + (f"\n{check.to_card()}" if check is not None else "")
        )


def search_mixture(
    train_sources: Mapping[str, Any],
    validation: Mapping[str, Any],
    *,
    objective: Objective = "mean",
    tokens_per_run: int = 200_000,
    num_runs: int = 32,
    proxy: ProxyConfig | None = None,
    tokenizer: Any = None,
    text_column: str = "text",
    min_share: float | Mapping[str, float] | None = None,
    max_share: float | Mapping[str, float] | None = None,
    max_epochs: float | Mapping[str, float] | None = 4.0,
    max_doc_tokens: int | None = None,
    stratify: bool = False,
    eval_tokens: int = 16_384,
    cache_dir: str | Path = "mixture-search",
    workers: int = 1,
    seed: int = 0,
    candidates: int = 100_000,
    top_k: int = 100,
    target_tokens: int | None = None,
    corners: bool = False,
    concentration: Sequence[float] = CONCENTRATION,
    min_weight: float = 1e-3,
    test: Mapping[str, Any] | None = None,
) -> SearchResult:
    """RegMix: ``num_runs`` proxies on sampled mixtures, a regression, the constrained predicted optimum.

    Args:
        train_sources: domain -> map-style ``Dataset`` with a text column (the data to mix).
        validation: domain -> ``Dataset`` of held-out text; the objective reads its losses.
        test: domain -> ``Dataset`` of more held-out text, which every proxy scores (under
            :func:`scored_as_test`) and nothing chooses by: the result reports the regression's CV Spearman
            against the runs' objective on it (``cv_spearman_test``), and ``check_at_scale`` scores its runs
            there too. It needs a test set for every domain the objective weights.
        objective: ``"mean"`` validation loss, one domain's name, or ``{domain: weight}``.
        tokens_per_run: training tokens of each proxy (token-true mixture from ``build_mixture``).
        num_runs: proxy runs (RegMix: a few times the number of domains squared; >= 5 to cross-validate).
        proxy: the proxy model and training settings (default :class:`ProxyConfig`, 1.05M parameters).
        min_share, max_share: per-source bounds on the share (one value or per source).
        max_epochs: how often a source may be repeated within a proxy run and hence its largest share.
        target_tokens: the budget of the run you will train on the mixture; the ``max_epochs`` caps then
            hold there too (proxies and recommendation). It does not change what the proxies measure: their
            ranking is that of ``tokens_per_run`` tokens (see ``check_at_scale`` for how it carries).
        max_doc_tokens: cut longer training documents into pieces before mixing, so that a proxy's share
            of a source does not hinge on whether its seed draws one long document (None: whole documents).
        stratify: a proxy drawing part of an epoch of a source takes documents spread evenly over its
            stored order, so seeds differ less in which documents they train on (``build_mixture``'s).
        eval_tokens: validation tokens per domain, in blocks spread evenly over all of its documents.
        cache_dir: one JSON per proxy run, keyed by its full config: an interrupted search resumes.
        workers: proxy processes in parallel (each uses ``proxy.threads`` torch threads).
        candidates, top_k: simplex points scored by the regressor; the recommendation is the mean of the
            ``top_k`` best (RegMix), which stays inside the (convex) constraints.
        corners: also train one proxy per source on that source alone (:meth:`SearchSpace.corners`), after
            the ``num_runs`` draws, so the regression sees the simplex's corners (a one-domain objective).
        concentration: the Dirichlet's concentration per source, one drawn per run from these; lower values
            draw sparser mixtures, nearer the corners and edges of the simplex (RegMix draws a total
            concentration from 15 log-spaced values in 0.1-5, i.e. 0.025-1.25 per source for four sources).
        min_weight: recommended shares under this become 0 (where ``min_share`` allows) and the rest are
            renormalised: the mean of the top candidates leaves traces such as 0.00003 of a source, a few
            documents of a real run, which no proxy measured (RegMix rounds its draws' shares under 2e-4).

    Examples:

    ```python
    >>> result = search_mixture({"code": code, "web": web}, {"code": code_val, "web": web_val},  # doctest: +SKIP
    ...                         tokens_per_run=200_000, num_runs=32, cache_dir="runs/mix")
    >>> mixture = result.build()  # doctest: +SKIP
    ```
    """
    t0 = time.perf_counter()
    proxy = proxy or ProxyConfig()
    space, bundle, tok = prepare(
        train_sources,
        validation,
        tokens_per_run=tokens_per_run,
        tokenizer=tokenizer,
        text_column=text_column,
        seq_len=proxy.seq_len,
        eval_tokens=eval_tokens,
        min_share=min_share,
        max_share=max_share,
        max_epochs=max_epochs,
        max_doc_tokens=max_doc_tokens,
        stratify=stratify,
        target_tokens=target_tokens,
        test=test,
    )
    obj = parse_objective(objective, list(validation))
    on_test = objective_on_test(obj, list(test)) if test else {}
    # a shape transformers rejects (e.g. an odd RoPE head dim) fails here, not inside a worker process
    proxy.model_config(tok)
    if num_runs < 5:
        raise ValueError(f"num_runs={num_runs}: need at least 5 proxy runs to fit and cross-validate")
    concentration = tuple(float(c) for c in concentration)
    if not concentration or not all(np.isfinite(c) and c > 0 for c in concentration):
        raise ValueError(f"concentration={concentration}: give one or more positive numbers")
    if not 0 <= min_weight < 1 / len(space.names):
        raise ValueError(f"min_weight={min_weight}: give a share in [0, 1/{len(space.names)})")
    rng = np.random.default_rng(seed)
    mixtures = space.sample(num_runs, rng, concentration)
    skipped: dict[str, str] = {}
    if corners:  # after the draws: the same seed draws the same mixtures (and cache keys) with or without
        corner_mixtures, skipped = space.corners()
        mixtures = np.concatenate([mixtures, corner_mixtures])
    cache = Path(cache_dir)
    bundle_path = save_bundle(bundle, cache)
    # every proxy starts from the same initialisation and data seed: the differences come from the mixture
    specs = [
        proxy_spec(dict(zip(space.names, m.tolist(), strict=True)), space, proxy, bundle, seed)
        for m in mixtures
    ]
    runs = run_proxies(specs, str(bundle_path), str(cache), workers)
    w = np.asarray([[r["spec"]["weights"][s] for s in space.names] for r in runs])
    y = np.asarray([score_objective(r["val_loss"], obj) for r in runs])
    y_test = np.asarray([score_objective(r["val_loss"], on_test) for r in runs]) if on_test else None
    subset = np.arange(num_runs) if len(runs) > num_runs else None
    fit = fit_regressor(w, y, seed, subset=subset, y_test=y_test)
    best = space.drop_small(predicted_optimum(space, fit, seed, candidates, top_k), min_weight)
    weights = dict(zip(space.names, (best / best.sum()).tolist(), strict=True))
    return SearchResult(
        weights=weights,
        predicted_objective=float(fit["model"].predict(features(best[None], fit["name"]))[0]),
        objective=obj,
        natural=space.natural,
        regressor=fit["name"],
        cv_spearman=fit["cv_spearman"],
        runs=runs,
        oof_predictions=fit["oof"].tolist(),
        space=space,
        proxy=proxy,
        parameters=proxy.num_parameters(proxy.vocab_size(tok)),
        wall_seconds=time.perf_counter() - t0,
        model=fit["model"],
        cv_spearman_sd=fit["cv_spearman_sd"],
        bundle_path=str(bundle_path),
        cache_dir=str(cache),
        corner_runs=len(runs) - num_runs,
        corners_skipped=skipped,
        cv_spearman_draws=fit["cv_spearman_subset"],
        concentration=concentration,
        min_weight=min_weight,
        test_objective=on_test,
        cv_spearman_test=fit["cv_spearman_test"],
    )
