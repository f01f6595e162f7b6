"""Render the README's benchmark table from ``benchmarks/results/*.json`` (between the bench markers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def render(results_dir: Path = ROOT / "benchmarks" / "results") -> str:
    rows = []
    for path in sorted(results_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        m = doc.get("machine", {})
        where = m.get("gpu") or f"{m.get('cores')}-core {m.get('cpu', 'CPU')}"
        for r in doc.get("summary", []):
            rows.append(
                f"| {r.get('capability', doc['benchmark'])} | {r['metric']} | {_fmt(r.get('ours'))} "
                f"| {r.get('anchor', '')}: {_fmt(r.get('anchor_value'))} | {_fmt(r.get('ratio'))} "
                f"| {r.get('target', '')} | {_fmt(r.get('met'))} | {where} | [{path.name}](benchmarks/results/{path.name}) |"
            )
    head = (
        "| capability | metric | ours | anchor | ratio | target | met | machine | raw |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows) if rows else head + "\n| – | no results yet | | | | | | | |"


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
        return 1
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(before + START + "\n" + render() + "\n" + END + after)
    print("README.md benchmark table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
