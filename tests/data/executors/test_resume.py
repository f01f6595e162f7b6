"""Resume: a stable fingerprint, a finished run is a no-op, killed runs rerun to identical output."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hf_addons.data.executors.pipeline import Pipeline, default_steps

REPO = Path(__file__).resolve().parents[3]


def _texts(n: int = 60) -> list[str]:
    base = [
        " ".join(
            f"Document {i} sentence {j} says the harbour town grew around its old stone bridge."
            for j in range(30)
        )
        for i in range(n // 2)
    ]
    return base + [t.replace("old", "ancient") for t in base]  # near duplicates of the first half


def test_fingerprint_is_the_same_under_every_hash_seed():
    code = (
        "from hf_addons.data.executors.pipeline import Pipeline, default_steps;"
        "print(Pipeline(default_steps(html=True)).fingerprint())"
    )
    prints = set()
    for seed in ("1", "777"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        prints.add(out.stdout.strip())
    assert len(prints) == 1
    assert prints == {Pipeline(default_steps(html=True)).fingerprint()}
    # and it still tells different configurations apart
    other = default_steps(html=True)
    other[-1].verify_threshold = 0.5
    assert Pipeline(other).fingerprint() not in prints


# The run used by the interruption tests, in a script so that a real process can be killed.
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import datasets
    from hf_addons.data.executors import pipeline as P
    from hf_addons.data.filters.quality import GopherQualityFilter
    from hf_addons.data.dedup.minhash import MinHashDeduplicator

    texts = json.loads(open(sys.argv[1]).read())
    out, kill = sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "")
    sig = signal.SIGINT if kill.endswith(":int") else signal.SIGKILL
    kill = kill.split(":")[0]
    # Ctrl-C as in a terminal, even where the test runner was started in the background (SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class Killer:
        name = "killer"
        def __call__(self, batch):
            if kill == "map" and any(t.startswith("Document 20 ") for t in batch["text"]):
                os.kill(os.getpid(), sig)
            return batch

    class KillingDedup(MinHashDeduplicator):
        def cluster(self, *a, **k):
            if kill == "dedup":
                os.kill(os.getpid(), sig)
            return super().cluster(*a, **k)

    real_write = P.atomic_write_table
    def write(table, path):
        if kill == "write" and path.parent.name == "data" and path.name == "shard-00001.parquet":
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            import pyarrow.parquet as pq
            pq.write_table(table, tmp)  # the temporary file is there when the process dies
            os.kill(os.getpid(), sig)
        return real_write(table, path)
    P.atomic_write_table = write

    pipe = P.Pipeline([Killer(), GopherQualityFilter(), KillingDedup(verify_threshold=0.7)], shard_rows=16, batch_size=8)
    report = pipe.run(datasets.Dataset.from_dict({"text": texts}), out)
    print(json.dumps({k: report[k] for k in ("input_rows", "output_rows", "shards_processed", "shards_resumed")}))
    """
)


def _run(tmp_path: Path, out: Path, kill: str = "") -> subprocess.CompletedProcess:
    script, data = tmp_path / "run.py", tmp_path / "texts.json"
    script.write_text(SCRIPT)
    data.write_text(json.dumps(_texts()))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, str(script), str(data), str(out)] + ([kill] if kill else []),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _digest(out: Path) -> dict[str, str]:
    """Every file of the output except the report's timing, by content."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name not in ("report.json",):
            files[str(p.relative_to(out))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    proc = _run(tmp, tmp / "out")
    assert proc.returncode == 0, proc.stderr
    return tmp / "out", json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kill", ["map", "dedup", "write", "map:int"])
def test_a_killed_run_reruns_to_the_same_output(tmp_path, reference, kill):
    ref_out, ref_report = reference
    out = tmp_path / "out"
    first = _run(tmp_path, out, kill)
    expected = -signal.SIGINT if kill.endswith(":int") else -signal.SIGKILL
    assert first.returncode in (expected, 1, 130), (
        first.stderr
    )  # killed (SIGINT may end as KeyboardInterrupt)
    assert not (out / "report.json").exists()
    second = _run(tmp_path, out)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout.strip().splitlines()[-1])
    assert (
        report["input_rows"] == ref_report["input_rows"]
        and report["output_rows"] == ref_report["output_rows"]
    )
    assert _digest(out) == _digest(ref_out)
    assert not list(out.rglob(".*.tmp-*")), "temporary files left behind"
    if kill.startswith("map"):
        assert report["shards_resumed"] >= 1  # the shards done before the kill were not redone


def test_a_finished_run_rerun_is_a_no_op(tmp_path, reference):
    ref_out, _ = reference
    out = tmp_path / "out"
    assert _run(tmp_path, out).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = _run(tmp_path, out)
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert _digest(out) == _digest(ref_out)
