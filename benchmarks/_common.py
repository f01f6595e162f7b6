"""Convention shared by every benchmark script in this folder.

A benchmark runs the anchor and ours side by side in one process, prints the ratio, and writes
``benchmarks/results/<benchmark>-<machine>.json`` via ``write_result``. The JSON holds the machine description,
the exact command, the raw measurements and a ``summary`` list of table rows that ``render_table.py`` puts in
the README:

    {"capability": "watermark", "metric": "detector tokens/s (64x512)", "anchor": "transformers WatermarkDetector",
     "anchor_value": 4400.0, "ours": 1.2e6, "ratio": 272.7, "unit": "tok/s", "target": ">= 100x", "met": true}
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and GPU of this machine, for the result file."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        # other work on the machine skews absolute numbers (not the side-by-side ratios): record it
        info["loadavg_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        info["memory_gib"] = round(mem_kb / 2**20, 1)
    except (OSError, AttributeError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    except ImportError:
        pass
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def machine_slug(info: dict[str, Any] | None = None) -> str:
    """Short machine name for file names: ``h100``, ``cpu-2c`` ..."""
    info = info or machine()
    if "gpu" in info:
        m = re.search(r"(H100|H200|A100|L4|T4|A10G|V100|RTX\s*\d+)", info["gpu"])
        return (m.group(1) if m else "gpu").lower().replace(" ", "")
    return f"cpu-{info['cores']}c"


def git_commit() -> str | None:
    """HEAD's short hash, with ``+dirty`` when tracked files differ from it (the result is not HEAD's code).
    Results under ``benchmarks/results/`` do not count: a benchmark that writes after each part rewrites its
    own tracked file."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)benchmarks/results",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if changed else head


def write_result(benchmark: str, payload: dict[str, Any], summary: list[dict[str, Any]]) -> Path:
    """Write ``results/<benchmark>-<machine>.json`` and print the summary rows with their ratios."""
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{benchmark}-{machine_slug(info)}.json"
    doc = {
        "benchmark": benchmark,
        "machine": info,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "summary": summary,
        "results": payload,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    for row in summary:
        ratio = row.get("ratio")
        print(
            f"[{benchmark}] {row['metric']}: ours={row.get('ours')} anchor={row.get('anchor_value')} "
            f"({row.get('anchor')}) ratio={ratio if ratio is None else round(ratio, 3)} target={row.get('target')}"
        )
    print(f"wrote {path}")
    return path


@contextmanager
def timer(store: dict[str, float], key: str):
    """``with timer(d, "x"): ...`` stores wall seconds in ``d["x"]`` (synchronising CUDA when present)."""
    _sync()
    t0 = time.perf_counter()
    yield
    _sync()
    store[key] = time.perf_counter() - t0


def _sync() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def article_truth() -> dict[str, dict[str, Any]]:
    """The shared article pages' ground truth (``{page_id: {"articleBody": ..., ...}}``), sorted by id.

    Raises ``SystemExit`` with the missing path when ``../shared`` is absent, so benchmarks fail clearly."""
    path = SHARED_DATA / "article-extraction" / "ground-truth.json"
    if not path.exists():
        raise SystemExit(f"shared data not found: {path} (clone the project beside ../shared)")
    return dict(sorted(json.loads(path.read_text()).items()))


def row(
    capability: str,
    metric: str,
    *,
    anchor: str | None,
    anchor_value: float | None,
    ours: float | None,
    unit: str,
    target: str,
    met: bool | None,
    ratio: float | None = None,
    digits: int = 3,
) -> dict[str, Any]:
    """One README table row for ``write_result``'s summary (values rounded to ``digits`` significant places)."""

    def _round(v: float | None) -> float | None:
        if v is None or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
            return v
        return float(f"{v:.{digits}g}") if abs(v) < 10**digits else round(v, 1)

    return {
        "capability": capability,
        "metric": metric,
        "anchor": anchor,
        "anchor_value": _round(anchor_value),
        "ours": _round(ours),
        "ratio": ratio,
        "unit": unit,
        "target": target,
        "met": None if met is None else bool(met),
    }


def interleaved_times(runs: dict[Any, Any], repeats: int) -> dict[Any, list[float]]:
    """Seconds of each of ``runs`` (no-argument callables), ``repeats`` passes each, interleaved with the order
    reversed every other pass: drift on a shared machine hits every run alike."""
    times: dict[Any, list[float]] = {k: [] for k in runs}
    order = list(runs)
    for r in range(repeats):
        for k in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def window_rule_ps(window: dict[str, Any]) -> dict[str, Any]:
    """WinMax p-values under three corrections, from the one scan ``WatermarkDetector.window_scores``
    returns: ``calibrated`` (the detector's: ``min(2 p_text, 2 p_scan)``, the scan's simulated null),
    ``bonferroni`` (the same half split with ``p_scan`` = shorter windows x the best one's p) and ``even``
    (an even Bonferroni split over all windows, ``min(p_text, p_window) x windows``)."""
    import torch

    p_text, p_short, tests = window["p_text"], window["p_shorter"], window["tests"].double()
    half = torch.fmin(2 * p_text, 2 * (tests - 1) * p_short)
    return {
        "calibrated": window["p"],
        "bonferroni": torch.where(torch.isnan(p_short), p_text, half).clamp_max(1.0),
        "even": (torch.fmin(p_text, p_short) * tests).clamp_max(1.0),
    }
