"""The README as documentation that runs: every Python block executes as written, and its tables are current.

Each block runs in a fresh interpreter from a scratch folder that sees the repository's ``examples/`` (the
inputs the README names), so files the snippets write (``out/``, ``wm-config``...) never land in the checkout.
The blocks use the real embedded default model, as a reader would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[tuple[str, str]]:
    """``(id, code)`` per python block, the id naming the section it sits in."""
    out = []
    for m in BLOCK.finditer(text):
        heading = re.findall(r"^#+ (.+)$", text[: m.start()], re.M)
        title = (
            re.sub(r"\W+", "-", heading[-1].split("—")[0].strip().lower()).strip("-") if heading else "top"
        )
        out.append((title, m.group(1)))
    return out


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_the_blocks_it_promises():
    titles = [t for t, _ in BLOCKS]
    for section in ("the-embedded-default-model", "watermark", "gcg-red-teaming", "pre-training-data-suite"):
        assert section in titles, titles
    assert "sparse-autoencoders" in titles and "clip-siglip-loss" in titles
    for _, code in BLOCKS:
        compile(code, "README.md", "exec")  # every block is whole, valid Python


@pytest.mark.parametrize("title,code", BLOCKS, ids=[t for t, _ in BLOCKS])
def test_readme_block_runs_as_written(title, code, tmp_path, tokenizer):
    del tokenizer  # the fixture skips where the embedded default model is not installed
    (tmp_path / "examples").symlink_to(REPO / "examples")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, f"README block {title!r} failed:\n{run.stderr[-4000:]}"
    assert run.stdout.strip(), f"README block {title!r} printed nothing"


def test_benchmark_tables_are_current():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import render_table

    assert render_table.main(["--check"]) == 0, "run: python benchmarks/render_table.py"


def test_the_mixture_docs_table_is_every_committed_validation():
    """docs/data-mixture.md's validation table is the committed results' (a new result changes it)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import mixture_validations

    table = mixture_validations.table()
    assert table in (REPO / "docs" / "data-mixture.md").read_text(), (
        "run: python benchmarks/mixture_validations.py"
    )


def test_render_table_keeps_the_latest_run_and_caps_the_headline(tmp_path):
    import json

    sys.path.insert(0, str(REPO / "benchmarks"))
    import render_table

    def result(name, script, date, ratio):
        row = {"capability": "x", "metric": f"m {name}", "ours": 1.0, "anchor": "a", "anchor_value": 1.0}
        doc = {"benchmark": name, "command": f"python benchmarks/{script} --x", "date": date}
        (tmp_path / f"{name}-cpu-2c.json").write_text(json.dumps(doc | {"summary": [row | {"ratio": ratio}]}))

    result("speed", "bench_a.py", "2026-01-01", 1.0)
    result("speed-run2", "bench_a.py", "2026-01-03", 2.0)
    result("speed-run3", "bench_a.py", "2026-01-02", 3.0)
    for i in range(30):
        result(f"other{i}", f"bench_o{i}.py", "2026-01-01", 1.0)
    latest = render_table.latest_results(tmp_path)
    assert [p.name for p, _ in latest if p.name.startswith("speed")] == ["speed-run2-cpu-2c.json"]
    assert len(render_table.headline_rows(latest)) == render_table.MAX_HEADLINE_ROWS
    full = render_table.render_full(tmp_path)
    assert "m speed-run2" in full and "m speed-run3" not in full and "m speed |" not in full


def test_a_result_of_design_rows_leaves_the_headline_to_its_scripts_target(tmp_path):
    """A newer result whose rows opt out (``"headline": false``, e.g. a fused-vs-compile decision) must not
    push its script's target row out of the README; docs/benchmarks.md still lists both."""
    import json

    sys.path.insert(0, str(REPO / "benchmarks"))
    import render_table

    def result(name, date, **extra):
        row = {"capability": "x", "metric": f"m {name}", "ours": 2.0, "anchor": "a", "anchor_value": 1.0}
        doc = {"benchmark": name, "command": "python benchmarks/bench_p.py --x", "date": date}
        (tmp_path / f"{name}-cpu-2c.json").write_text(
            json.dumps(doc | {"summary": [row | {"ratio": 2.0} | extra]})
        )

    result("speed", "2026-01-01")
    result("compile", "2026-01-02", headline=False)
    rows = render_table.headline_rows(render_table.latest_results(tmp_path))
    assert [r["metric"] for _, _, r in rows] == ["m speed"]
    result("compile", "2026-01-02")  # without the opt-out the newest result is the headline, as before
    rows = render_table.headline_rows(render_table.latest_results(tmp_path))
    assert [r["metric"] for _, _, r in rows] == ["m compile"]
    full = render_table.render_full(tmp_path)
    assert "m speed" in full and "m compile" in full
