"""How large a lead can the issue's 2-seed validation see? A power analysis of the committed validations.

The mixture search's validation passes when the searched optimum's mean loss is below both baselines' by more
than the largest seed spread (max - min over a mixture's seeds). A seed is shared: seed ``s`` trains every
mixture from the same initialisation and document order, so each validation with >= 3 seeds per mixture is
read as a two-way layout ``loss[m, s] = mu[m] + seed[s] + noise[m, s]`` and its variances estimated by ANOVA.
The shared ``seed[s]`` widens every spread but cancels in the margin; ``noise`` enters both.

For each validation this reports the two standard deviations, the optimum's lead over the best baseline with
its paired 95% interval, and the chance that a 2-seed validation passes (Monte Carlo under the fitted
variances) for a true lead of ``delta``: at the measured lead, at the interval's upper end, and the lead a
validation would need to pass half and 80% of the time. No training: it reads result files.

Only validations of the mean objective (the README's headline) are read: an objective that weights domains
unevenly has a third baseline (``target``, its own weights) and leads of another size.

    python benchmarks/mixture_validation_power.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result  # noqa: E402
from mixture_validations import mean_validation  # noqa: E402

BASELINES = ("natural", "uniform")


def seed_matrix(validation: dict) -> tuple[list[str], np.ndarray]:
    """Mixtures x seeds (the seeds every mixture has; optimum first)."""
    scores = validation["scores"]
    names = ["optimum", *(b for b in BASELINES if b in scores)]
    n = min(len(scores[m]["seeds"]) for m in names)
    return names, np.asarray([scores[m]["seeds"][:n] for m in names])


def two_way_sd(x: np.ndarray) -> tuple[float, float]:
    """ANOVA estimates of the shared seed effect's sd and the per-run noise's sd (mixtures x seeds, no
    replication); a negative variance estimate is reported as 0."""
    m, s = x.shape
    resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
    ms_noise = (resid**2).sum() / ((m - 1) * (s - 1))
    ms_seed = m * ((x.mean(0) - x.mean()) ** 2).sum() / (s - 1)
    return float(np.sqrt(max(ms_seed - ms_noise, 0.0) / m)), float(np.sqrt(ms_noise))


def pass_rate(
    means: np.ndarray, sd_seed: float, sd_noise: float, seeds: int, draws: int, rng: np.random.Generator
) -> float:
    """P(optimum's mean lower than every baseline's by more than every mixture's seed spread)."""
    x = (
        means[None, :, None]
        + rng.normal(0, sd_seed, (draws, 1, seeds))
        + rng.normal(0, sd_noise, (draws, means.size, seeds))
    )
    mean = x.mean(2)
    margin = (mean[:, 1:] - mean[:, :1]).min(1)
    return float((margin > np.ptp(x, axis=2).max(1)).mean())


def lead_needed(
    gap: float, sd_seed: float, sd_noise: float, target: float, seeds: int, draws: int, seed: int
) -> float:
    """The smallest true lead over the best baseline (the other baseline ``gap`` behind it) at which the
    validation passes with probability ``target`` (bisection on a common random-number grid)."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        p = pass_rate(
            np.asarray([0.0, mid, mid + gap]), sd_seed, sd_noise, seeds, draws, np.random.default_rng(seed)
        )
        lo, hi = (mid, hi) if p < target else (lo, mid)
    return hi


def analyse(path: Path, draws: int, seed: int) -> dict | None:
    doc = json.loads(path.read_text())
    validation = mean_validation(doc)
    if validation is None:
        return None
    names, x = seed_matrix(validation)
    if x.shape[1] < 3 or len(names) < 3:
        return None  # too few seeds to split the variance, or a baseline missing
    sd_seed, sd_noise = two_way_sd(x)
    mean = x.mean(1)
    best = 1 + int(np.argmin(mean[1:]))
    diff = x[best] - x[0]  # per seed, best baseline - optimum
    half = stats.t.ppf(0.975, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size)
    lead = float(diff.mean())
    gap = float(np.ptp(mean[1:]))
    rng = np.random.default_rng(seed)

    def at(delta: float) -> float:
        return pass_rate(np.asarray([0.0, delta, delta + gap]), sd_seed, sd_noise, 2, draws, rng)

    return {
        "_first_seeds": x[:, :2].ravel().tolist(),
        "result": path.name,
        "command": doc.get("command"),
        "validation": {"parameters": validation["parameters"], "tokens": validation["tokens"]},
        "mixtures": names,
        "seeds": int(x.shape[1]),
        "sd_shared_seed": sd_seed,
        "sd_noise": sd_noise,
        "best_baseline": names[best],
        "lead": lead,
        "lead_ci95": [lead - half, lead + half],
        "baseline_gap": gap,
        "pass_rate_2_seeds": {"at_lead": at(lead), "at_ci_upper": at(lead + half)},
        "lead_for_pass_rate_2_seeds": {
            str(q): lead_needed(gap, sd_seed, sd_noise, q, 2, draws, seed) for q in (0.5, 0.8)
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", nargs="*", help="result files (default: every mixture-search-*.json)")
    p.add_argument("--draws", type=int, default=100_000, help="Monte Carlo draws per probability")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="mixture-validation-power")
    args = p.parse_args()
    paths = [Path(r) for r in args.results] if args.results else sorted(RESULTS.glob("mixture-search-*.json"))
    rows = [r for r in (analyse(path, args.draws, args.seed) for path in paths) if r]
    # a validation extended with more seeds (``--seeds 5`` over a cache) repeats its first seeds: keep the longest
    longest: dict[tuple, dict] = {}
    for r in rows:
        key = tuple(round(v, 6) for v in r.pop("_first_seeds"))
        if key not in longest or r["seeds"] > longest[key]["seeds"]:
            longest[key] = r
    rows = list(longest.values())
    if not rows:
        raise SystemExit("no validation with >= 3 seeds for the optimum, natural and uniform")
    for r in rows:
        need = r["lead_for_pass_rate_2_seeds"]
        print(
            f"{r['result']}: {r['seeds']} seeds, sd shared {r['sd_shared_seed']:.3f} noise {r['sd_noise']:.3f}; "
            f"lead over {r['best_baseline']} {r['lead']:+.3f} (95% CI {r['lead_ci95'][0]:+.3f}, "
            f"{r['lead_ci95'][1]:+.3f}); 2-seed pass rate {r['pass_rate_2_seeds']['at_lead']:.2f} at the lead, "
            f"{r['pass_rate_2_seeds']['at_ci_upper']:.2f} at the CI's top; lead for 50% / 80%: "
            f"{need['0.5']:.3f} / {need['0.8']:.3f}"
        )
    write_result(args.name, {"draws": args.draws, "validations": rows}, summary=[])


if __name__ == "__main__":
    main()
