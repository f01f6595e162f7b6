"""Train an SAE: Adam (fused where available), AuxK on by default, dead latents tracked by tokens since they
last fired, unit-norm decoder with gradient projection, geometric-median pre-bias, checkpoint and resume."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from hf_addons.hardware import cpu_has_fast_bf16
from hf_addons.interp.activations import TensorSource
from hf_addons.interp.model import SparseAutoencoder

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.pt"


@dataclass
class SAETrainingArguments:
    """Training knobs.

    ``lr=None``: Gao et al.'s 2e-4 / sqrt(d_sae / 16384), tuned for long runs, for TopK times
    ``clamp(sqrt(8192 / steps), 1, 8)`` on short ones (see ``default_lr``). The schedule warms up linearly over
    ``warmup_steps`` (``None``: 5% of the steps, at most 1000) and decays linearly to 0 over the last
    ``decay_fraction`` of the steps (Anthropic's 2024 training update), which is what makes the higher peak safe.
    ``bf16=None`` runs the encoder matmul in bf16 where that is fast: CUDA, and (TopK) CPUs that multiply bf16
    natively (AMX or AVX512-BF16); on CPU bf16 only picks the k latents, their values are recomputed in fp32.
    ``shard_data`` (data-parallel runs): each rank's activations are its own ``batch_size / world_size`` rows of
    every global batch (e.g. an ``ActivationStream`` over that rank's texts), so the LM forwards are split
    across ranks instead of repeated on each; without it every rank reads the whole global batch and keeps its
    slice. Either way the result equals one process trained on the global batches (rank parts in rank order).
    """

    total_tokens: int = 2_000_000
    batch_size: int = 4096
    lr: float | None = None
    warmup_steps: int | None = None
    decay_fraction: float = 0.2
    auxk: bool = True
    auxk_coefficient: float = 1 / 32
    k_aux: int | None = None
    dead_tokens_threshold: int | None = None
    dead_check_every: int = 16
    b_dec_init: str = "geometric_median"
    bf16: bool | None = None
    seed: int = 0
    output_dir: str | None = None
    save_steps: int | None = None
    logging_steps: int = 50
    report_to: list[str] = field(default_factory=list)
    progress: bool = True
    shard_data: bool = False

    def __post_init__(self) -> None:
        if self.total_tokens <= 0 or self.batch_size <= 0:
            raise ValueError("total_tokens and batch_size must be positive")
        if self.b_dec_init not in ("geometric_median", "mean", "zeros"):
            raise ValueError(f"b_dec_init must be geometric_median, mean or zeros, got {self.b_dec_init!r}")
        bad = set(self.report_to) - {"tensorboard", "wandb"}
        if bad:
            raise ValueError(f"unknown report_to {sorted(bad)}; supported: tensorboard, wandb")


def geometric_median(points: torch.Tensor, iters: int = 50, eps: float = 1e-6) -> torch.Tensor:
    """Weiszfeld's algorithm: robust centre of the activations, the pre-bias init of Gao et al."""
    points = points.float()
    median = points.mean(0)
    for _ in range(iters):
        weights = 1.0 / (points - median).norm(dim=-1).clamp_min(eps)
        new = (weights[:, None] * points).sum(0) / weights.sum()
        median = new
    return median


def default_lr(d_sae: int, total_steps: int, architecture: str = "topk") -> float:
    """Peak Adam lr: Gao et al.'s ``2e-4 / sqrt(d_sae / 2**14)``, for TopK times ``clamp(sqrt(8192 / steps), 1, 8)``.

    Gao et al. fitted their rule on runs of tens of thousands of steps; on short runs a higher peak lr wins as
    long as the lr decays to 0 at the end. On SmolLM2-135M layer-9 activations held apart from the benchmark's
    (512-token batches), the best multiplier was ~8 at 100 steps and ~4-8 at 400 (8x left 2% of latents dead
    there), i.e. it falls roughly as 1/sqrt(steps), the usual fixed-horizon step size; the rule meets Gao's
    at 8192 steps and never goes below it. The other architectures (measured only at Gao's rule) keep it.
    """
    base = 2e-4 / math.sqrt(d_sae / 16384)
    if architecture != "topk":
        return base
    return base * min(8.0, max(1.0, math.sqrt(8192 / max(1, total_steps))))


def _lr_lambda(total_steps: int, warmup: int, decay_fraction: float):
    decay_start = int(total_steps * (1 - decay_fraction))

    def fn(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay_fraction > 0 and step >= decay_start:
            return max(0.0, (total_steps - step) / max(1, total_steps - decay_start))
        return 1.0

    return fn


def _distributed(device: torch.device) -> tuple[int, int]:
    """``(world_size, rank)``; starts the process group under ``torchrun`` (gloo on CPU, nccl on CUDA)."""
    import torch.distributed as dist

    if not dist.is_available():
        return 1, 0
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 1, 0
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_world_size(), dist.get_rank()


class SAETrainer:
    """Train ``sae`` on ``activations``: an (N, d_in) tensor, a ``TensorSource``/``ActivationBuffer``, or any
    iterator of (batch, d_in) tensors. ``train(resume_from_checkpoint=...)`` continues a saved run.

    Under ``torchrun`` (or any initialised ``torch.distributed`` group) it trains data-parallel: every rank reads
    the same global batch of ``batch_size`` rows, steps on its slice with the global batch's variance, and the
    gradients are summed, so N processes compute the single-process step on the same batch (TopK / GroupMax;
    only rank 0 writes files).
    """

    def __init__(
        self,
        sae: SparseAutoencoder,
        args: SAETrainingArguments | None = None,
        activations: torch.Tensor | Iterable[torch.Tensor] | None = None,
    ) -> None:
        self.sae = sae
        self.args = args or SAETrainingArguments()
        if activations is None:
            raise ValueError("SAETrainer needs activations: a tensor, a TensorSource or an ActivationBuffer")
        if sae.config.normalize_activations != "none":
            raise ValueError(
                f"this SAE normalises each input at run time ({sae.config.normalize_activations!r}, loaded from "
                "SAELens): training it is not supported; evaluate, inspect and export it instead"
            )
        self.device = next(sae.parameters()).device
        if isinstance(activations, torch.Tensor):
            if activations.ndim != 2 or activations.shape[-1] != sae.config.d_in:
                raise ValueError(
                    f"activations have shape {tuple(activations.shape)}; expected (N, d_in={sae.config.d_in})"
                )
            activations = TensorSource(
                activations, self.args.batch_size, seed=self.args.seed, device=self.device
            )
        self.source = activations
        self._iter: Iterator[torch.Tensor] = iter(activations)
        cfg = sae.config
        self.total_steps = max(1, self.args.total_tokens // self.args.batch_size)
        self.lr = self.args.lr or default_lr(cfg.d_sae, self.total_steps, cfg.architecture)
        self.bf16 = self.args.bf16
        if self.bf16 is None:  # CPU: only the TopK encoder matmul is measured (benchmarks/bench_sae.py)
            cpu_ok = (
                self.device.type == "cpu" and cfg.architecture in ("topk", "groupmax") and cpu_has_fast_bf16()
            )
            self.bf16 = self.device.type == "cuda" or cpu_ok
        self.world_size, self.rank = _distributed(self.device)
        params = [p for p in sae.parameters() if p.requires_grad]
        # TopK on one process: W_enc is stored as the transpose of a contiguous (d_sae, d_in) matrix while
        # training (the sparse gradient is a row product, and the selected latents' fp32 values read rows),
        # and Adam steps an alias with those rows (same storage); train() restores the usual layout at the end
        self._enc_rows = None
        if cfg.architecture in ("topk", "groupmax") and self.world_size == 1 and sae.W_enc.requires_grad:
            self._enc_rows = torch.nn.Parameter(sae.W_enc.detach().t().contiguous())
            params = [self._enc_rows if p is sae.W_enc else p for p in params]
        try:
            self.optimizer = torch.optim.Adam(
                params, lr=self.lr, betas=(0.9, 0.999), eps=6.25e-10, fused=True
            )
        except (RuntimeError, TypeError):  # old torch or unsupported device
            self.optimizer = torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.999), eps=6.25e-10)
        warmup = self.args.warmup_steps
        if warmup is None:
            warmup = max(1, min(1000, self.total_steps // 20))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_lambda(self.total_steps, warmup, self.args.decay_fraction)
        )
        self.dead_threshold = self.args.dead_tokens_threshold or min(
            10_000_000, max(self.args.total_tokens // 10, self.args.batch_size)
        )
        self.tokens_since_fired = torch.zeros(cfg.d_sae, dtype=torch.long, device=self.device)
        self.step = 0
        self.tokens_seen = 0
        self.history: list[dict[str, float]] = []
        self._trackers: list[Any] = []
        self.sharded = self.args.shard_data and self.world_size > 1
        if self.sharded and self.args.batch_size % self.world_size:
            raise ValueError(
                f"shard_data splits each global batch of {self.args.batch_size} rows over {self.world_size} ranks: "
                "batch_size must be a multiple of the world size"
            )
        if self.sharded and isinstance(self.source, TensorSource):
            raise ValueError(
                "shard_data needs each rank's own activations (an iterable of that rank's batches); a tensor is "
                "read whole by every rank, which is what shard_data=False does"
            )

    # -- W_enc layout while training -------------------------------------------------------------------------------
    @torch.no_grad()
    def _enc_rows_layout(self, on: bool) -> None:
        """``on``: W_enc becomes a (d_in, d_sae) view of the Adam alias's (d_sae, d_in) rows; off: contiguous."""
        if self._enc_rows is None:
            return
        w = self.sae.W_enc
        if on:
            if w.data_ptr() != self._enc_rows.data_ptr():
                self._enc_rows.data.copy_(w.t())
                w.data = self._enc_rows.data.t()
            w.grad = None  # re-created by topk_loss_and_grads in the new layout
        else:
            w.data = w.data.contiguous()
            w.grad = None

    # -- data ---------------------------------------------------------------------------------------------------
    def _next_batch(self) -> torch.Tensor:
        try:
            batch = next(self._iter)
        except StopIteration:
            if self.step == 0:
                raise ValueError("the activation source is empty") from None
            raise
        if self.sharded and batch.shape[0] != self.args.batch_size // self.world_size:
            raise ValueError(
                f"with shard_data each rank reads batch_size / world_size = "
                f"{self.args.batch_size // self.world_size} rows per step, rank {self.rank} got {batch.shape[0]}"
            )
        if batch.shape[-1] != self.sae.config.d_in:
            raise ValueError(
                f"activation batch has d={batch.shape[-1]}, the SAE has d_in={self.sae.config.d_in}"
            )
        return batch.to(self.device, non_blocking=True).float()

    def _gathered(self, local: torch.Tensor) -> torch.Tensor:
        """Every rank's ``local`` (same trailing shape, any length) concatenated in rank order."""
        n = torch.tensor([local.shape[0]], device=local.device)
        sizes = [torch.empty_like(n) for _ in range(self.world_size)]
        torch.distributed.all_gather(sizes, n)
        longest = int(max(sizes))  # one host sync; all_gather needs equal shapes: pad, then trim
        padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=local.device)
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, padded)
        return torch.cat([p[: int(k)] for p, k in zip(parts, sizes)])

    def _rank_part(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """This rank's rows of the step and, data-parallel, the global batch's variance and row count (what
        makes the per-rank losses sum to the single-process loss)."""
        if self.world_size == 1:
            return batch, {}
        if self.sharded:  # this rank holds its rows only: the global variance from reduced sums
            return batch, {
                "total_variance": self._global_variance(batch),
                "global_rows": batch.shape[0] * self.world_size,
            }
        return batch.tensor_split(self.world_size)[self.rank], {
            "total_variance": (batch - batch.mean(0)).pow(2).sum(),
            "global_rows": batch.shape[0],
        }

    def _global_variance(self, local: torch.Tensor) -> torch.Tensor:
        """Sum of squared deviations from the mean over the global batch, from this rank's rows and two sums
        reduced across ranks (the same value the unsharded mode computes from the whole batch)."""
        x = local.double()
        sums = torch.cat([x.sum(0), x.pow(2).sum().reshape(1)])
        torch.distributed.all_reduce(sums)
        n = local.shape[0] * self.world_size
        return (sums[-1] - sums[:-1].pow(2).sum() / n).to(local.dtype)

    @torch.no_grad()
    def init_b_dec(self, sample: torch.Tensor) -> None:
        method = self.args.b_dec_init
        if method == "zeros" or not self.sae.config.apply_b_dec_to_input:
            return
        centre = geometric_median(sample) if method == "geometric_median" else sample.float().mean(0)
        self.sae.b_dec.copy_(centre.to(self.sae.b_dec.dtype))

    # -- checkpoints ------------------------------------------------------------------------------------------------
    def save_checkpoint(self, directory: str | Path | None = None) -> Path:
        """SAE (``save_pretrained``) + optimizer, schedule, dead-latent counters and data position.

        With ``shard_data`` every rank calls it: each other rank writes its own data position
        (``source-rank<r>.pt``), and rank 0 writes the trainer state, which marks a finished checkpoint, only
        once they all have."""
        if directory is None:
            if not self.args.output_dir:
                raise ValueError("save_checkpoint needs a directory or args.output_dir")
            directory = Path(self.args.output_dir) / f"checkpoint-{self.step}"
        directory = Path(directory)
        if self.sharded and self.rank != 0:
            directory.mkdir(parents=True, exist_ok=True)
            torch.save(self._source_state(), directory / f"source-rank{self.rank}.pt")
            torch.distributed.barrier()
            return directory
        self._update_config_stats()
        w = self.sae.W_enc
        rows_view = w.data
        w.data = rows_view.contiguous()  # safetensors writes contiguous tensors only
        try:
            self.sae.save_pretrained(directory)
        finally:
            w.data = rows_view
        state = {
            "step": self.step,
            "tokens_seen": self.tokens_seen,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "tokens_since_fired": self.tokens_since_fired.cpu(),
            "source": self._source_state(),
            "args": asdict(self.args),
            "rng": torch.get_rng_state(),
        }
        if self.sharded:
            torch.distributed.barrier()  # every rank's data position is on disk before the state marking it done
        torch.save(state, directory / TRAINER_STATE)
        return directory

    def _source_state(self) -> Any:
        return self.source.state_dict() if hasattr(self.source, "state_dict") else None

    def load_checkpoint(self, directory: str | Path) -> None:
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / TRAINER_STATE).exists():
            raise FileNotFoundError(f"{directory} is not an SAE trainer checkpoint (no {TRAINER_STATE})")
        weights = load_file(str(directory / "model.safetensors"), device=str(self.device))
        self.sae.load_state_dict(weights)
        state = torch.load(directory / TRAINER_STATE, map_location=self.device, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.tokens_since_fired = state["tokens_since_fired"].to(self.device)
        self.step, self.tokens_seen = state["step"], state["tokens_seen"]
        if self.sharded and self.rank != 0:  # this rank's own data position
            own = directory / f"source-rank{self.rank}.pt"
            state["source"] = (
                torch.load(own, map_location=self.device, weights_only=False) if own.exists() else None
            )
        if state.get("source") is not None and hasattr(self.source, "load_state_dict"):
            self.source.load_state_dict(state["source"])
            self._iter = iter(self.source)
        elif state.get("source") is None and self.tokens_seen:
            logger.warning("the activation source cannot resume its position; training continues on new data")
        torch.set_rng_state(state["rng"])

    @staticmethod
    def latest_checkpoint(output_dir: str | Path) -> Path | None:
        # only finished checkpoints: the trainer state is written last (and, sharded, after every rank's part)
        found = sorted(
            (p for p in Path(output_dir).glob("checkpoint-*") if (p / TRAINER_STATE).exists()),
            key=lambda p: int(p.name.split("-")[-1]),
        )
        return found[-1] if found else None

    # -- logging -------------------------------------------------------------------------------------------------
    def _open_trackers(self) -> None:
        for name in self.args.report_to:
            if name == "tensorboard":
                from torch.utils.tensorboard import SummaryWriter

                self._trackers.append(SummaryWriter(log_dir=str(Path(self.args.output_dir or "runs") / "tb")))
            elif name == "wandb":
                import wandb

                self._trackers.append(wandb.init(project="hf-addons-sae", config=asdict(self.args)))

    def _log(self, row: dict[str, float]) -> None:
        self.history.append(row)
        for t in self._trackers:
            if hasattr(t, "add_scalar"):
                for key, value in row.items():
                    t.add_scalar(f"sae/{key}", value, self.step)
            else:
                t.log({f"sae/{k}": v for k, v in row.items()}, step=self.step)

    def _update_config_stats(self) -> None:
        cfg = self.sae.config
        cfg.tokens_trained = int(self.tokens_seen)
        if self.history:
            last = self.history[-1]
            cfg.metrics = {
                **cfg.metrics,
                "l0": last["l0"],
                "fvu": last["fvu"],
                "dead_fraction": last["dead_fraction"],
            }

    # -- data parallel ----------------------------------------------------------------------------------------------
    def _all_reduce_grads(self) -> None:
        """Sum the ranks' gradients (each rank's loss is its share of the global-batch loss), in one buffer."""
        params = [p for p in self.sae.parameters() if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        offset = 0
        for p in params:
            p.grad = flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    def _reduce_sums(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logged sums over all ranks: fvu / auxk / loss are shares of the global value, l0 a per-rank mean."""
        if self.world_size == 1 or not sums:
            return sums
        keys = sorted(sums)
        flat = torch.stack([torch.as_tensor(sums[k], dtype=torch.float32) for k in keys])
        torch.distributed.all_reduce(flat)
        return {k: v / self.world_size if k == "l0" else v for k, v in zip(keys, flat)}

    # -- training ---------------------------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | Path | bool | None = None) -> dict[str, float]:
        """Run until ``total_tokens``; returns the last logged metrics (fvu, l0, dead_fraction ...)."""
        args, sae = self.args, self.sae
        torch.manual_seed(args.seed)
        if resume_from_checkpoint:
            path = resume_from_checkpoint
            if path is True:
                path = self.latest_checkpoint(args.output_dir or ".")
                if path is None:
                    raise FileNotFoundError(f"no checkpoint-* under {args.output_dir}")
            self.load_checkpoint(path)
        else:
            first = self._next_batch()
            self.init_b_dec(self._gathered(first) if self.sharded else first)
            self._pending = first
        sae.train()
        self._enc_rows_layout(True)
        self._open_trackers()
        topk = sae.config.architecture in ("topk", "groupmax")
        compute_dtype = torch.bfloat16 if self.bf16 else None
        dead_idx = None
        bar = None
        if args.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, desc="sae train", unit="step")
        sums: dict[str, torch.Tensor] = {}
        n_logged = 0
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        while self.step < self.total_steps:
            pending = getattr(self, "_pending", None)
            if pending is not None:
                batch, self._pending = pending, None
            else:
                try:
                    batch = self._next_batch()
                except StopIteration:
                    logger.warning("activation source exhausted after %d tokens", self.tokens_seen)
                    break
            if self.step % args.dead_check_every == 0:  # one host sync every few steps, not every step
                if not bool(finite):
                    raise ValueError(
                        f"non-finite loss before step {self.step}: NaN/inf activations or lr too high"
                    )
                dead_idx = None
                if topk and args.auxk:
                    dead_idx = (self.tokens_since_fired > self.dead_threshold).nonzero().squeeze(-1)
                    dead_idx = dead_idx if dead_idx.numel() else None
            rows, dp = self._rank_part(batch)
            if topk:  # closed-form gradients, no autograd graph (same numbers, tested)
                out = sae.topk_loss_and_grads(
                    rows,
                    dead_mask=dead_idx,
                    k_aux=args.k_aux,
                    auxk_coefficient=args.auxk_coefficient,
                    compute_dtype=compute_dtype,
                    total_variance=dp.get("total_variance"),
                )
                if self._enc_rows is not None:
                    self._enc_rows.grad = sae.W_enc.grad.t()  # a view: Adam steps the same storage
            else:
                if sae.config.architecture == "batchtopk" and self.world_size > 1:
                    dp["gather_values"] = self._gathered
                with torch.autocast(self.device.type, dtype=compute_dtype, enabled=compute_dtype is not None):
                    out = sae(rows, **dp)
                out.loss.backward()
            if self.world_size > 1:
                self._all_reduce_grads()
            if sae.config.normalize_decoder:
                sae.remove_gradient_parallel_to_decoder_directions()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=not topk)  # TopK reuses the buffers
            self.scheduler.step()
            if sae.config.normalize_decoder:
                sae.set_decoder_norm_to_unit_norm()
            with torch.no_grad():
                n = dp.get("global_rows", batch.shape[0])  # the global batch's tokens
                self.tokens_since_fired += n
                if out.latent_indices is not None:
                    counts = torch.zeros(sae.config.d_sae, device=self.device)
                    counts.index_add_(
                        0, out.latent_indices.reshape(-1), (out.latent_values > 0).reshape(-1).float()
                    )
                    if self.world_size > 1:
                        torch.distributed.all_reduce(counts)
                    fired = counts > 0
                else:
                    fired = (out.latent_values > 0).any(0)
                    if self.world_size > 1:
                        fired = fired.float()
                        torch.distributed.all_reduce(fired)
                        fired = fired > 0
                finite &= torch.isfinite(out.loss)
                self.tokens_since_fired.masked_fill_(fired, 0)
                for key in ("fvu", "l0", "auxk_loss", "loss"):
                    value = getattr(out, key)
                    if value is not None:
                        sums[key] = sums.get(key, 0) + value.detach().float()
                n_logged += 1
            self.step += 1
            self.tokens_seen += n
            if bar is not None:
                bar.update(1)
            if self.step % args.logging_steps == 0 or self.step == self.total_steps:
                row = {k: float(v) / n_logged for k, v in self._reduce_sums(sums).items()}
                row["dead_fraction"] = float((self.tokens_since_fired > self.dead_threshold).float().mean())
                row["lr"] = self.scheduler.get_last_lr()[0]
                row["tokens"] = float(self.tokens_seen)
                self._log(row)
                if bar is not None:
                    bar.set_postfix(
                        fvu=f"{row['fvu']:.3f}", l0=f"{row['l0']:.1f}", dead=f"{row['dead_fraction']:.3f}"
                    )
                sums, n_logged = {}, 0
            if args.save_steps and args.output_dir and self.step % args.save_steps == 0:
                if self.rank == 0 or self.sharded:
                    self.save_checkpoint()
        if bar is not None:
            bar.close()
        if n_logged:
            row = {k: float(v) / n_logged for k, v in self._reduce_sums(sums).items()}
            row["dead_fraction"] = float((self.tokens_since_fired > self.dead_threshold).float().mean())
            row["tokens"] = float(self.tokens_seen)
            self._log(row)
        for t in self._trackers:
            (t.close if hasattr(t, "close") else t.finish)()
        self._trackers = []
        self._update_config_stats()
        self._enc_rows_layout(False)
        sae.eval()
        if args.output_dir and self.rank == 0:
            sae.save_pretrained(args.output_dir)
            (Path(args.output_dir) / "training_log.json").write_text(json.dumps(self.history, indent=1))
        if self.world_size > 1:  # on every rank, train() returns once rank 0's files are written
            torch.distributed.barrier()
        return self.history[-1] if self.history else {}


def train_sae(
    activations: torch.Tensor | Iterable[torch.Tensor],
    config: Any = None,
    args: SAETrainingArguments | None = None,
    **config_kwargs: Any,
) -> SparseAutoencoder:
    """One call: build an SAE from ``config`` (or ``SAEConfig(**config_kwargs)``) and train it."""
    from hf_addons.interp.config import SAEConfig

    if config is None:
        if "d_in" not in config_kwargs and isinstance(activations, torch.Tensor):
            config_kwargs["d_in"] = activations.shape[-1]
        config = SAEConfig(**config_kwargs)
    args = args or SAETrainingArguments()
    torch.manual_seed(args.seed)
    sae = SparseAutoencoder(config)
    if isinstance(activations, torch.Tensor):
        sae = sae.to(activations.device)
    SAETrainer(sae, args, activations).train()
    return sae
