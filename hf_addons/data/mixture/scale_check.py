"""Does a searched mixture stay the best on a larger model? Larger proxies trained on the recommendation and
on the mixtures users pick without a search (natural, uniform, and for an objective that weights the domains
unevenly, those weights themselves: one domain's loss -> that domain alone), a few seeds each.

RegMix bets that the ranking of mixtures carries from its proxies to the model one trains. On small corpora
it may not: on the benchmark's four domains the best mixture moves towards the natural distribution as the
token budget grows (``docs/data-mixture.md``). This is the check to run before committing compute, the one
``benchmarks/bench_mixture_search.py`` reports.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_addons.data.mixture.bundle import load_bundle
from hf_addons.data.mixture.proxy import ProxyConfig, proxy_spec, run_proxies
from hf_addons.data.mixture.search import SearchResult
from hf_addons.data.mixture.space import score_objective

RECOMMENDED = "optimum"
BASELINES = ("natural", "uniform")
# the objective's weights as the mixture: the no-search answer to "lower this domain's loss" is "train on it"
TARGET = "target"
# what ``ScaleCheck.to_dict`` repeats for the test sets (the runs, their cost and feasibility are the same)
_TEST_KEYS = ("scores", "best_baseline", "margin", "max_seed_spread", "lowest", "met", "paired_by_seed")


def paired_lower(ours: Sequence[float], baseline: Sequence[float]) -> tuple[np.ndarray, float | None]:
    """Per-seed differences ``ours - baseline`` and the one-sided paired t-test p that ours is lower (None
    with one seed): seed ``s`` trains every mixture from the same initialisation and batch order."""
    from scipy.stats import ttest_rel

    diff = np.subtract(ours, baseline)
    # one seed, or the same mixture twice (the runs are the same runs): no test
    p = ttest_rel(ours, baseline, alternative="less").pvalue if len(diff) > 1 and diff.any() else None
    return diff, None if p is None else float(p)


@dataclass
class ScaleCheck:
    """The larger proxies' runs per mixture (seed order) and what they say about the recommendation.

    ``margin``: the best baseline's mean objective minus the recommendation's (positive: the recommendation
    is lower); ``met``: lower by more than the largest seed spread of any mixture checked. With test sets
    (``search_mixture(test=...)``), ``test`` is the same check on them: the validation sets chose the
    recommendation, so a gain there is partly selection; the test sets' gain is not.
    """

    parameters: int
    tokens: int
    objective: dict[str, float]
    runs: dict[str, list[dict[str, Any]]]
    infeasible: dict[str, str] = field(default_factory=dict)  # mixture -> why it was not trained
    baselines: tuple[str, ...] = BASELINES
    wall_seconds: float = 0.0
    test_objective: dict[str, float] = field(default_factory=dict)

    @property
    def test(self) -> ScaleCheck | None:
        """The same runs scored by the objective on the test sets (None without them)."""
        if not self.test_objective:
            return None
        return ScaleCheck(
            self.parameters, self.tokens, self.test_objective, self.runs, self.infeasible, self.baselines
        )

    @property
    def scores(self) -> dict[str, list[float]]:
        return {
            k: [score_objective(r["val_loss"], self.objective) for r in rs] for k, rs in self.runs.items()
        }

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            k: {"mean": float(np.mean(v)), "seeds": v, "spread": float(np.ptp(v))}
            for k, v in self.scores.items()
        }

    @property
    def best_baseline(self) -> str:
        ran = [k for k in self.baselines if k in self.runs]
        return min(ran, key=lambda k: float(np.mean(self.scores[k])))

    @property
    def margin(self) -> float:
        s = self.scores
        return float(np.mean(s[self.best_baseline]) - np.mean(s[RECOMMENDED]))

    @property
    def same_as_recommended(self) -> list[str]:
        """Baselines whose mixture is the recommendation itself (e.g. target, when the search puts everything
        on the objective's domain): their runs are its runs, so the search found nothing to add."""
        specs = [r["spec"] for r in self.runs[RECOMMENDED]]
        return [k for k in self.baselines if k in self.runs and [r["spec"] for r in self.runs[k]] == specs]

    @property
    def max_spread(self) -> float:
        return max(v["spread"] for v in self.summary().values())

    @property
    def met(self) -> bool:
        return self.margin > self.max_spread

    def welch_p(self, other: str | None = None) -> float:
        """One-sided Welch test over the seeds: is the recommendation lower than ``other`` (default: the best
        baseline)?"""
        from scipy.stats import ttest_ind

        s = self.scores
        other = other or self.best_baseline
        return float(ttest_ind(s[RECOMMENDED], s[other], equal_var=False, alternative="less").pvalue)

    def paired(self) -> dict[str, dict[str, Any]]:
        """Seed ``s`` is the same initialisation and batch order for every mixture (common random numbers), so
        per-seed differences (recommendation minus baseline) are paired: is it lower seed by seed?"""
        s, out = self.scores, {}
        for k in (k for k in self.baselines if k in s and len(s[k]) == len(s[RECOMMENDED])):
            diff, p = paired_lower(s[RECOMMENDED], s[k])
            out[k] = {
                "differences": diff.tolist(),
                "mean": float(diff.mean()),
                "seeds_lower": int((diff < 0).sum()),
                "paired_t_one_sided_p": p,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        held = self.test
        return {
            "parameters": self.parameters,
            "tokens": self.tokens,
            "scores": self.summary(),
            "best_baseline": self.best_baseline,
            "margin": self.margin,
            "max_seed_spread": self.max_spread,
            "lowest": self.margin > 0,
            "met": self.met,
            "welch_one_sided_p": self.welch_p(),
            "paired_by_seed": self.paired(),
            "same_as_recommended": self.same_as_recommended,
            "infeasible": self.infeasible,
            "wall_seconds": self.wall_seconds,
            **({"test": {k: v for k, v in held.to_dict().items() if k in _TEST_KEYS}} if held else {}),
        }

    def to_card(self) -> str:
        """A dataset-card paragraph: what the larger proxies measured."""
        s = self.summary()
        rows = "\n".join(
            f"| {k} | {v['mean']:.4f} | {', '.join(f'{x:.4f}' for x in v['seeds'])} | {v['spread']:.4f} |"
            for k, v in s.items()
        )
        held = self.test
        skipped = "".join(f"\n\nNot trained: {k} ({why})." for k, why in self.infeasible.items())
        skipped += "".join(
            f"\n\nThe recommendation is the {k} mixture itself." for k in self.same_as_recommended
        )
        on_test = ""
        if held is not None:
            t = held.summary()
            on_test = (
                "\n\nOn the held-out test sets, which nothing chose by: "
                + ", ".join(f"{k} {v['mean']:.4f} (spread {v['spread']:.4f})" for k, v in t.items())
                + f"; the recommendation is {held.verdict()}."
            )
        return (
            f"### Checked at {self.parameters / 1e6:.2f}M parameters and {self.tokens:,} tokens\n\n"
            "| mixture | mean objective | per seed | seed spread |\n| --- | --- | --- | --- |\n"
            f"{rows}\n\nThe recommendation is {self.verdict()}.{on_test}{skipped}\n"
        )

    def verdict(self) -> str:
        if self.met:
            return (
                f"lower than {self.best_baseline} by {self.margin:.4f}, more than the largest seed spread "
                f"({self.max_spread:.4f})"
            )
        return (
            f"{'lower' if self.margin > 0 else 'not lower'} than {self.best_baseline} "
            f"(margin {self.margin:+.4f}) against a largest seed spread of {self.max_spread:.4f}: "
            "not shown to be better at this scale"
        )


def target_weights(result: SearchResult) -> dict[str, float] | None:
    """The objective's weights over the training sources (a validation-only domain drops out), or None when
    it weights none of them."""
    weighted = {d: float(result.objective.get(d, 0.0)) for d in result.space.names}
    total = sum(weighted.values())
    return {d: w / total for d, w in weighted.items()} if total > 0 else None


def default_baselines(result: SearchResult) -> tuple[str, ...]:
    """Natural and uniform, and target where it is another mixture than uniform (an objective that is not
    the mean)."""
    target = target_weights(result)
    same = target is None or np.allclose(list(target.values()), 1 / len(target))
    return BASELINES if same else (*BASELINES, TARGET)


def check_at_scale(
    result: SearchResult,
    proxy: ProxyConfig,
    tokens: int,
    seeds: int = 2,
    *,
    baselines: Sequence[str] | None = None,
    others: Mapping[str, Mapping[str, float]] | None = None,
    base_seed: int = 1000,
    workers: int = 1,
) -> ScaleCheck:
    """Train ``proxy`` for ``tokens`` tokens on the recommendation, the ``baselines`` (``"natural"``,
    ``"uniform"``) and any ``others`` (name -> weights), ``seeds`` seeds each from ``base_seed``, on the
    search's data and cache (a repeated check reads its runs back).

    A baseline over the epoch caps at ``tokens`` (e.g. uniform with a small source) is left out and named
    in ``infeasible``; a recommendation over them is an error (rerun the search with caps at this budget).

    Args:
        result: a :func:`~hf_addons.data.mixture.search.search_mixture` result (it knows its data and cache).
        proxy: the larger proxy, e.g. ``result.proxy.at_width(264, 4)`` (5.3x the default's parameters).
        tokens: training tokens per larger proxy (the issue's protocol: >= 5x the search's).
        seeds: seeds per mixture; the same seed is the same initialisation and batch order for every mixture.
        baselines: of ``"natural"``, ``"uniform"`` and ``"target"`` (the objective's weights as the mixture):
            what users pick without a search. Default: natural and uniform, and target where it differs from
            uniform (an objective that is not the mean).
        others: more mixtures to train beside them (name -> weights), e.g. DoReMi's.
        base_seed: the first seed (the benchmark's validation uses 1000 onwards).
        workers: proxy processes in parallel.

    Examples:

    ```python
    >>> check = check_at_scale(result, result.proxy.at_width(264, 4), tokens=1_000_000)  # doctest: +SKIP
    >>> check.met, check.margin  # doctest: +SKIP
    ```
    """
    if result.bundle_path is None or result.cache_dir is None:
        raise ValueError(
            "this SearchResult carries no data bundle: check the result of a search_mixture call"
        )
    names = result.space.names
    target = target_weights(result)
    baselines = default_baselines(result) if baselines is None else baselines
    known = (*BASELINES, TARGET)
    if unknown := set(baselines) - set(known):
        raise ValueError(f"baselines {sorted(unknown)}: choose from {list(known)}")
    if not baselines:
        raise ValueError(f"name at least one baseline of {list(known)} to compare the recommendation with")
    if TARGET in baselines and target is None:
        raise ValueError(
            f"baseline {TARGET!r} trains on the objective's weights, but the objective {result.objective} "
            f"weights no training source ({names})"
        )
    if seeds < 1:
        raise ValueError(f"seeds={seeds}: need at least one seed per mixture")
    if clash := set(others or {}) & {RECOMMENDED, *known}:
        raise ValueError(f"others {sorted(clash)}: these names are the recommendation's and the baselines'")
    fixed = {"natural": result.natural, "uniform": dict.fromkeys(names, 1 / len(names)), TARGET: target}
    candidates = {RECOMMENDED: result.weights, **{b: fixed[b] for b in baselines}, **dict(others or {})}
    bundle = load_bundle(result.bundle_path)
    per_mixture: dict[str, list[dict[str, Any]]] = {}
    infeasible: dict[str, str] = {}
    for label, weights in candidates.items():
        try:
            per_mixture[label] = [
                proxy_spec(weights, result.space, proxy, bundle, base_seed + i, tokens=tokens)
                for i in range(seeds)
            ]
        except ValueError as exc:
            if label == RECOMMENDED:
                raise ValueError(f"the recommendation cannot be trained at {tokens} tokens: {exc}") from None
            infeasible[label] = str(exc)
    if not set(per_mixture) & set(baselines):
        raise ValueError(f"no baseline can be trained at {tokens} tokens: {infeasible}")
    # seed by seed: an interrupted check has every mixture at its first seeds (with 2 seeds, a mixture
    # above another on one of them cannot lead it by more than their larger seed spread)
    specs = [per_mixture[label][i] for i in range(seeds) for label in per_mixture]
    t0 = time.perf_counter()
    runs = run_proxies(specs, result.bundle_path, result.cache_dir, workers, desc="scale-check proxies")
    n = len(per_mixture)
    by_label = {label: runs[j::n] for j, label in enumerate(per_mixture)}
    return ScaleCheck(
        parameters=int(runs[0]["parameters"]),
        tokens=int(tokens),
        objective=result.objective,
        runs=by_label,
        infeasible=infeasible,
        baselines=tuple(baselines),
        wall_seconds=time.perf_counter() - t0,
        test_objective=result.test_objective,
    )
