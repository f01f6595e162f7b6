"""Render the benchmark tables from ``benchmarks/results/*.json``: a headline table in the README (one row per
benchmark script, from its latest result) and every row of every latest result in ``docs/benchmarks.md``.

"Latest" is by each file's ``date``: a ``-runN`` copy of a result counts as the same result (only the newest is
shown), and ``results/superseded/`` is never read. A summary row may set ``"headline": true`` to be the one
its script shows in the README; otherwise the first row with a ratio is used, except rows that set
``"headline": false`` (a result of such rows only leaves the README to its script's other results).

Run: ``python benchmarks/render_table.py`` (or ``make bench-table``); ``--check`` exits 1 if a file is stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
RUN_SUFFIX = re.compile(r"-run\d+(?=-|$)")
MAX_HEADLINE_ROWS = 30  # every script today (README: "the latest result of each script")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _script(doc: dict[str, Any]) -> str:
    command = doc.get("command") or ""
    command = command if isinstance(command, str) else " ".join(map(str, command))
    m = re.search(r"bench_\w+\.py", command)
    return m.group(0) if m else f"{doc.get('benchmark', '?')}"


def latest_results(results_dir: Path = RESULTS) -> list[tuple[Path, dict[str, Any]]]:
    """``(path, doc)`` of the newest file per result name (``-runN`` dropped), results with rows only."""
    newest: dict[str, tuple[str, Path, dict[str, Any]]] = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"skipping {path.name}: {exc}", file=sys.stderr)
            continue
        if not isinstance(doc, dict) or not doc.get("summary"):
            continue  # caches, smoke runs with no rows
        key = RUN_SUFFIX.sub("", path.stem)
        date = str(doc.get("date") or "")
        if key not in newest or date >= newest[key][0]:
            newest[key] = (date, path, doc)
    return [(p, d) for _, p, d in sorted(newest.values(), key=lambda t: t[1].name)]


def _machine(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {}) or {}
    return m.get("gpu") or f"{m.get('cores', '?')}-core CPU"


def _row(r: dict[str, Any], doc: dict[str, Any], path: Path, link_prefix: str, full: bool) -> str:
    anchor = r.get("anchor") or ""
    anchor_cell = f"{anchor}: {_fmt(r.get('anchor_value'))}" if anchor else "–"
    cells = [
        r.get("capability", doc.get("benchmark", "")),
        r.get("metric", ""),
        _fmt(r.get("ours")),
        anchor_cell,
        _fmt(r.get("ratio")),
        r.get("target", ""),
        _fmt(r.get("met")),
    ]
    if full:
        cells.append(_machine(doc))
    cells.append(f"[{path.stem}]({link_prefix}{path.name})")
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _headline(doc: dict[str, Any]) -> dict[str, Any] | None:
    rows = doc.get("summary", [])
    for r in rows:
        if r.get("headline"):
            return r
    for r in rows:
        if isinstance(r.get("ratio"), (int, float)) and r.get("anchor") and r.get("headline") is not False:
            return r
    return None


def headline_rows(results: list[tuple[Path, dict[str, Any]]]) -> list[tuple[Path, dict, dict]]:
    """One row per benchmark script: the headline row of its newest result that has one."""
    by_script: dict[str, tuple[str, Path, dict, dict]] = {}
    fallback: dict[str, tuple[str, Path, dict, dict]] = {}
    for path, doc in results:
        script, date = _script(doc), str(doc.get("date") or "")
        row = _headline(doc)
        target = by_script if row is not None else fallback
        row = row or doc["summary"][0]
        if script not in target or date >= target[script][0]:
            target[script] = (date, path, doc, row)
    for script, value in fallback.items():
        by_script.setdefault(script, value)
    picked = sorted(by_script.items(), key=lambda kv: (kv[1][3].get("capability", ""), kv[0]))
    return [(p, d, r) for _, (_, p, d, r) in picked][:MAX_HEADLINE_ROWS]


HEAD = "| capability | metric | ours | anchor | ratio | target | met |"


def render_headline(results_dir: Path = RESULTS) -> str:
    rows = [
        _row(r, d, p, "benchmarks/results/", full=False)
        for p, d, r in headline_rows(latest_results(results_dir))
    ]
    head = HEAD + " raw |\n" + "|---" * 8 + "|"
    return head + "\n" + ("\n".join(rows) if rows else "| – | no results yet | | | | | | |")


def render_full(results_dir: Path = RESULTS) -> str:
    rows = [
        _row(r, d, p, "../benchmarks/results/", full=True)
        for p, d in latest_results(results_dir)
        for r in d.get("summary", [])
    ]
    head = HEAD + " machine | raw |\n" + "|---" * 9 + "|"
    return head + "\n" + ("\n".join(rows) if rows else "| – | no results yet | | | | | | | |")


def _replace(path: Path, table: str) -> str:
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no {START} ... {END} markers")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return before + START + "\n" + table + "\n" + END + after


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = []
    for path, table in (
        (ROOT / "README.md", render_headline()),
        (ROOT / "docs" / "benchmarks.md", render_full()),
    ):
        new = _replace(path, table)
        if new != path.read_text(encoding="utf-8"):
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new, encoding="utf-8")
    if check:
        if stale:
            print(f"stale benchmark tables: {[str(s) for s in stale]}; run python benchmarks/render_table.py")
            return 1
        return 0
    print(f"updated: {[str(s) for s in stale] or 'nothing (tables were current)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
