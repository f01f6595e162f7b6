"""What a searched mixture may be: the objective it is scored by and the constraints it must meet.

:class:`SearchSpace` holds the sources' token counts and the bounds on every share (``min_share``,
``max_share``, epoch caps at a budget); it samples RegMix's Dirichlet draws and checks any weights a user
gives, so every bad mixture is an error before a proxy trains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hf_addons.data.mixture.mixture import normalise_weights

Objective = str | Mapping[str, float]


def parse_objective(objective: Objective, domains: Sequence[str]) -> dict[str, float]:
    """``"mean"``, one domain's name, or ``{domain: weight}`` -> normalised weights over validation domains."""
    if isinstance(objective, str):
        if objective == "mean":
            return {d: 1.0 / len(domains) for d in domains}
        if objective not in domains:
            raise ValueError(
                f"objective {objective!r} is neither 'mean' nor a validation domain; domains: {list(domains)}"
            )
        return {objective: 1.0}
    missing = [d for d in objective if d not in domains]
    if missing:
        raise ValueError(
            f"objective names domain(s) {missing} without a validation set; have {list(domains)}"
        )
    total = sum(float(v) for v in objective.values())
    if total <= 0 or any(float(v) < 0 for v in objective.values()):
        raise ValueError(f"objective weights must be >= 0 with a positive sum, got {dict(objective)}")
    return {d: float(v) / total for d, v in objective.items()}


def score_objective(losses: Mapping[str, float], objective: Mapping[str, float]) -> float:
    """A run's objective: its losses weighted by ``objective`` (domain -> weight)."""
    return float(sum(w * losses[d] for d, w in objective.items()))


TEST_SUFFIX = "-test"


def scored_as_test(domain: str) -> str:
    """The name a domain's test set is scored under in every run's ``val_loss`` (beside its validation set)."""
    return f"{domain}{TEST_SUFFIX}"


def objective_on_test(objective: Mapping[str, float], test_domains: Sequence[str]) -> dict[str, float]:
    """The objective read on the test sets instead of the validation sets: every domain it weights needs one."""
    missing = [d for d in objective if d not in test_domains]
    if missing:
        raise ValueError(
            f"the objective weights domain(s) {missing} without a test set: give one for every weighted domain "
            f"({list(objective)}) or none"
        )
    return {scored_as_test(d): w for d, w in objective.items()}


CONCENTRATION = (0.3, 1.0, 3.0)


@dataclass
class SearchSpace:
    """Token counts of the sources and the constraints a mixture must meet.

    ``target_tokens``: the budget of the run the mixture is for. Its epoch caps are tighter than a proxy's
    (a source repeated twice in a 1M-token proxy is repeated ten times in a 5M-token run), so mixtures are
    sampled and recommended within the caps at the larger of the two budgets.
    """

    tokens: dict[str, int]
    tokens_per_run: int
    min_share: dict[str, float]
    max_share: dict[str, float]
    max_epochs: dict[str, float | None]
    target_tokens: int | None = None

    @property
    def budget(self) -> int:
        """The budget the epoch caps apply at by default: the target run's, or the proxies' if larger."""
        return max(self.tokens_per_run, self.target_tokens or 0)

    @property
    def names(self) -> list[str]:
        return list(self.tokens)

    @property
    def natural(self) -> dict[str, float]:
        total = sum(self.tokens.values())
        return {s: t / total for s, t in self.tokens.items()}

    def lower(self) -> np.ndarray:
        """Per-source share bound from below: ``min_share``."""
        return np.asarray([self.min_share[s] for s in self.names])

    def upper(self) -> np.ndarray:
        """Per-source share bound: ``max_share`` and the epoch cap at :attr:`budget` tokens."""
        caps = [
            min(self.max_share[s], math.inf if e is None else e * self.tokens[s] / self.budget)
            for s, e in self.max_epochs.items()
        ]
        return np.asarray(caps)

    def feasible(self, w: np.ndarray) -> np.ndarray:
        w = np.atleast_2d(w)
        inside = np.all(w >= self.lower() - 1e-9, axis=1) & np.all(w <= self.upper() + 1e-9, axis=1)
        return inside & (np.abs(w.sum(1) - 1) <= 1e-6)

    def check(self, weights: Mapping[str, float], tokens_per_run: int | None = None, what: str = "mixture"):
        """A clear error when ``weights`` do not sum to 1 or a source is too small for its share.

        A run's own weights (rounded to 6 decimals in its cache key) are accepted back: 1e-5 of slack."""
        w = normalise_weights(weights, self.names, tol=1e-5)
        budget = tokens_per_run or self.budget
        for s, share in w.items():
            need = share * budget
            cap = self.max_epochs[s]
            if cap is not None and need > cap * self.tokens[s] + 1e-9:
                raise ValueError(
                    f"{what}: source {s!r} has {self.tokens[s]} tokens but its share {share:.3f} of {budget} "
                    f"tokens needs {need:.0f}, i.e. {need / self.tokens[s]:.2f} epochs > max_epochs {cap}; lower "
                    f"its share to <= {cap * self.tokens[s] / budget:.3f} or raise max_epochs[{s!r}]"
                )
        return w

    def validate(self) -> None:
        lo = sum(self.min_share.values())
        if lo > 1 + 1e-9:
            raise ValueError(f"min_share values sum to {lo:.3f} > 1: no mixture meets them")
        up = self.upper()
        for s, u in zip(self.names, up, strict=True):
            if u < self.min_share[s] - 1e-12:
                raise ValueError(
                    f"source {s!r} is too small for its minimum share: {self.tokens[s]} tokens, min_share "
                    f"{self.min_share[s]:.3f} of {self.budget} tokens needs "
                    f"{self.min_share[s] * self.budget / self.tokens[s]:.2f} epochs > max_epochs "
                    f"{self.max_epochs[s]}"
                )
        if up.sum() < 1 - 1e-9:
            raise ValueError(
                f"the sources cannot fill {self.budget} tokens within their caps (at most "
                f"{up.sum():.3f} of the budget: {dict(zip(self.names, np.round(up, 3).tolist(), strict=True))}); "
                "lower the budget (tokens_per_run, target_tokens) or raise max_epochs"
            )

    def sample(
        self, n: int, rng: np.random.Generator, concentration: Sequence[float] = CONCENTRATION
    ) -> np.ndarray:
        """RegMix-style candidates: Dirichlet around the natural distribution at several concentrations,
        kept only when they meet the constraints (rejection sampling)."""
        nat = np.asarray([self.natural[s] for s in self.names])
        # a floor keeps tiny natural shares explorable; the scale sets how far from natural a draw goes
        base = 0.5 * nat + 0.5 / len(nat)
        out: list[np.ndarray] = []
        for _ in range(1000):
            scale = rng.choice(np.asarray(concentration, dtype=float), size=4 * n)[:, None] * len(nat)
            draw = rng.gamma(base[None, :] * scale)
            total = draw.sum(1, keepdims=True)
            # at a low concentration every gamma of a row can underflow to 0: no direction, not a mixture
            keep = total[:, 0] > 0
            draw = draw[keep] / total[keep]
            out.extend(draw[self.feasible(draw)])
            if len(out) >= n:
                return np.asarray(out[:n])
        raise ValueError(
            f"could not sample {n} mixtures meeting the constraints; relax min/max shares or caps"
        )

    def drop_small(self, w: np.ndarray, below: float) -> np.ndarray:
        """``w`` with its shares under ``below`` set to 0 (where ``min_share`` allows) and the rest
        renormalised; ``w`` as it is if that would break a constraint."""
        out = np.where((w < below) & (self.lower() <= 0), 0.0, w)
        out = out / out.sum()
        return out if self.feasible(out)[0] else w

    def corners(self) -> tuple[np.ndarray, dict[str, str]]:
        """Each source alone (the others at their ``min_share``) where the constraints allow it, and why not
        for the rest.

        Dirichlet draws around the natural distribution stay away from the corners of the simplex, so a
        regression fitted on them alone extrapolates there; a one-domain objective's optimum is often near one.
        """
        lo, up = self.lower(), self.upper()
        out, skipped = [], {}
        for i, s in enumerate(self.names):
            w = lo.copy()
            w[i] = 1 - (lo.sum() - lo[i])
            if self.feasible(w)[0]:
                out.append(w)
            else:
                skipped[s] = (
                    f"a share of {w[i]:.3f} exceeds its bound {up[i]:.3f} (max_share or "
                    f"max_epochs at {self.budget} tokens)"
                )
        return np.asarray(out).reshape(-1, len(self.names)), skipped
