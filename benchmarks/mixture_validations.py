"""Every committed validation of the mixture search's mean objective, one row each (docs/data-mixture.md).

No training: it reads ``results/mixture-search*-cpu-2c.json`` and prints a markdown table of the searched
optimum against natural and uniform (– where one was not trained) on the larger proxies, with the issue's check (the optimum the lowest by
more than the largest seed spread). One-domain objectives are left out: they have a third baseline (the
domain alone) and are tabled in the docs apart.

    python benchmarks/mixture_validations.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS  # noqa: E402

BASELINES = ("natural", "uniform")
_GLOB = "mixture-search*-cpu-2c.json"


def mean_validation(doc: dict) -> dict | None:
    """A result's validation on larger proxies when its objective is the mean over every domain, else None."""
    val, search = doc["results"].get("validation"), doc["results"]["search"]
    weights = search["objective"]
    if not val or "scores" not in val or weights.keys() != search["natural"].keys():
        return None
    return val if len(set(weights.values())) == 1 else None


def _size(n: float) -> str:
    return f"{n / 1e6:.2f}M".replace(".00M", "M") if n >= 1e6 else f"{n / 1e3:.0f}k"


def rows(results: Path = RESULTS) -> list[dict]:
    """The validations in the order they were run, a run's re-runs with more seeds (``-s5``) after it."""
    out = []
    files = {p.name.removesuffix("-cpu-2c.json"): json.loads(p.read_text()) for p in results.glob(_GLOB)}

    def first_run(name: str) -> str:
        base = re.sub(r"-s\d+(-api)?$", "", name)
        return files[base]["date"] if base in files else files[name]["date"]

    for name in sorted(files, key=lambda n: (first_run(n), files[n]["date"])):
        res = files[name]["results"]
        val, search = mean_validation(files[name]), res["search"]
        if val is None:
            continue
        scores = val["scores"]
        seeds = min(len(s["seeds"]) for s in scores.values())
        test = val.get("test") or {}
        out.append(
            {
                "result": name,
                "search": f"{_size(search['proxy_parameters'])} x {_size(search['tokens_per_run'])}",
                "validation": f"{_size(val['parameters'])} x {_size(val['tokens'])}",
                "seeds": seeds,
                "means": {m: scores[m]["mean"] for m in ("optimum", *BASELINES) if m in scores},
                "margin": val["margin"],
                "spread": val["max_seed_spread"],
                "met": bool(val["margin_exceeds_spread"]) and test.get("met", True),
                "test_margin": test.get("margin"),
            }
        )
    return out


def table(results: Path = RESULTS) -> str:
    lines = [
        "| result | search proxy x tokens | validation proxy x tokens | seeds | optimum | natural | uniform "
        "| margin (test files) | largest spread | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows(results):
        m = r["means"]
        cell = {k: (f"**{v:.3f}**" if v == min(m.values()) else f"{v:.3f}") for k, v in m.items()}
        margin = f"{r['margin']:+.3f}" + (
            f" ({r['test_margin']:+.3f})" if r["test_margin"] is not None else ""
        )
        lines.append(
            f"| `{r['result']}` | {r['search']} | {r['validation']} | {r['seeds']} | {cell['optimum']} "
            f"| {cell.get('natural', '–')} | {cell.get('uniform', '–')} | {margin} "
            f"| {r['spread']:.3f} | {'yes' if r['met'] else 'no'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
