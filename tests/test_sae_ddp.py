"""Data-parallel SAE training under ``torchrun`` (gloo, 2 CPU processes) equals one process on the same batches."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

WORKER = textwrap.dedent(
    """
    import sys
    import torch
    from hf_addons.interp import SAEConfig, SAETrainer, SAETrainingArguments, SparseAutoencoder

    def run(out, arch):
        torch.manual_seed(0)
        acts = torch.randn(4096, 16) @ torch.randn(16, 16) + 0.3
        torch.manual_seed(0)
        sae = SparseAutoencoder(SAEConfig(d_in=16, d_sae=64, k=4, architecture=arch, l1_coefficient=0.5))
        args = SAETrainingArguments(
            total_tokens=12 * 256, batch_size=256, bf16=False, progress=False, logging_steps=4,
            dead_tokens_threshold=512, output_dir=out,
        )
        trainer = SAETrainer(sae, args, acts)
        trainer.train()
        return trainer

    if __name__ == "__main__":
        trainer = run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "topk")
        if trainer.rank == 1:
            torch.save(trainer.history, sys.argv[1] + "/history-rank1.pt")
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    """
)


SHARDED_WORKER = textwrap.dedent(
    """
    import os
    import sys
    import torch
    from hf_addons.interp import SAEConfig, SAETrainer, SAETrainingArguments, SparseAutoencoder
    from hf_addons.interp.activations import TensorSource

    class Part:
        # this rank's rows of every global batch (what a rank's own stream yields), resumable
        def __init__(self, acts, rank, world):
            self.src, self.rank, self.world = TensorSource(acts, 256, seed=0), rank, world

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.src).tensor_split(self.world)[self.rank]

        def state_dict(self):
            return {**self.src.state_dict(), "rank": self.rank}

        def load_state_dict(self, state):
            assert state["rank"] == self.rank  # each rank resumes its own position
            self.src.load_state_dict(state)

    def args(out, **kw):
        return SAETrainingArguments(
            total_tokens=12 * 256, batch_size=256, bf16=False, progress=False, logging_steps=4,
            dead_tokens_threshold=512, output_dir=out, shard_data=True, **kw,
        )

    def sae():
        torch.manual_seed(0)
        return SparseAutoencoder(SAEConfig(d_in=16, d_sae=64, k=4))

    if __name__ == "__main__":
        out = sys.argv[1]
        torch.manual_seed(0)
        acts = torch.randn(4096, 16) @ torch.randn(16, 16) + 0.3
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        SAETrainer(sae(), args(out + "/straight"), Part(acts, rank, world)).train()
        first = SAETrainer(sae(), args(out + "/resumed", save_steps=6), Part(acts, rank, world))
        first.total_steps = 6  # "crash" after the checkpoint
        first.train()
        again = SAETrainer(sae(), args(out + "/resumed"), Part(acts, rank, world))
        again.train(resume_from_checkpoint=True)
        torch.distributed.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two torchrun workers + one single process per architecture: ~30 CPU-s of start-up each
@pytest.mark.parametrize("arch", ["topk", "batchtopk", "jumprelu", "relu"])
def test_torchrun_two_processes_match_one(tmp_path, arch):
    from hf_addons.interp import SparseAutoencoder

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script), str(ddp_dir), arch,
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    subprocess.run([sys.executable, str(script), str(single_dir), arch], env=env, check=True, timeout=300)

    ddp = SparseAutoencoder.from_pretrained(ddp_dir)
    single = SparseAutoencoder.from_pretrained(single_dir)
    for (name, a), (_, b) in zip(ddp.state_dict().items(), single.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    # the logged metrics are the global batch's on every rank (not the rank's half)
    h1 = torch.load(ddp_dir / "history-rank1.pt")
    single_log = __import__("json").loads((single_dir / "training_log.json").read_text())
    assert len(h1) == len(single_log)
    for a, b in zip(h1, single_log):
        assert a["fvu"] == pytest.approx(b["fvu"], rel=1e-3) and a["l0"] == pytest.approx(b["l0"], rel=1e-3)
    assert h1[-1]["fvu"] < h1[0]["fvu"]  # and it trained


@pytest.mark.slow  # two torchrun workers (3 trainings each) + one single process
def test_sharded_data_ranks_read_their_own_rows_and_resume(tmp_path):
    """shard_data: each rank reads only its part of every global batch; the result equals one process on the
    global batches, and a checkpoint restores every rank's own data position."""
    from hf_addons.interp import SparseAutoencoder

    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    sharded, single = tmp_path / "worker_sharded.py", tmp_path / "worker.py"
    sharded.write_text(SHARDED_WORKER)
    single.write_text(WORKER)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(sharded), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "resumed" / "checkpoint-6" / "source-rank1.pt").exists()
    subprocess.run([sys.executable, str(single), str(tmp_path / "single")], env=env, check=True, timeout=300)
    reference = SparseAutoencoder.from_pretrained(tmp_path / "single").state_dict()
    for run in ("straight", "resumed"):
        got = SparseAutoencoder.from_pretrained(tmp_path / run).state_dict()
        for name in reference:
            torch.testing.assert_close(got[name], reference[name], rtol=1e-4, atol=1e-5, msg=f"{run} {name}")


def test_shard_data_checks_its_inputs(monkeypatch):
    from hf_addons.interp import SAEConfig, SAETrainer, SAETrainingArguments, SparseAutoencoder
    from hf_addons.interp import trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "_distributed", lambda device: (3, 0))
    sae = SparseAutoencoder(SAEConfig(d_in=8, d_sae=16, k=2))
    with pytest.raises(ValueError, match="multiple of the world size"):
        SAETrainer(sae, SAETrainingArguments(batch_size=256, shard_data=True), iter([torch.randn(85, 8)]))
    with pytest.raises(ValueError, match="each rank's own activations"):
        SAETrainer(sae, SAETrainingArguments(batch_size=255, shard_data=True), torch.randn(64, 8))
