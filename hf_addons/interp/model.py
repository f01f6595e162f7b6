"""``SparseAutoencoder``: a transformers ``PreTrainedModel`` with TopK (default), BatchTopK, JumpReLU and ReLU+L1.

The TopK path never forms a dense ``N x d_sae`` latent matrix after the encoder: decoding gathers the k active
decoder rows (``embedding_bag``), and the encoder's backward only touches the rows that fired, so a step costs
one dense matmul instead of three. Weight layout follows SAELens (``W_enc``: d_in x d_sae, ``W_dec``:
d_sae x d_in) so SAEBench-style code can use it as is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from hf_addons.hub import PushMixin
from hf_addons.interp.config import SPARSE_CODE_ARCHITECTURES, SAEConfig


@dataclass
class SAEOutput(ModelOutput):
    """What ``SparseAutoencoder.forward`` returns; ``latent_indices`` is set only on the TopK path."""

    loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    latent_values: torch.Tensor | None = None
    latent_indices: torch.Tensor | None = None
    fvu: torch.Tensor | None = None
    auxk_loss: torch.Tensor | None = None
    sparsity_loss: torch.Tensor | None = None
    l0: torch.Tensor | None = None


def sparse_decode(values: torch.Tensor, indices: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    """``sum_j values[n, j] * W_dec[indices[n, j]]``: a gather of k rows per token, no dense latent matrix."""
    return F.embedding_bag(indices, W_dec, per_sample_weights=values.to(W_dec.dtype), mode="sum")


def _rows_outer(idx: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``G^T @ x`` for a row-sparse ``G`` (N x n_rows) given as (idx, grad): the encoder weight gradient."""
    n, kk = idx.shape
    rows = torch.arange(n, device=idx.device).repeat_interleave(kk)
    coo = torch.sparse_coo_tensor(
        torch.stack([idx.reshape(-1), rows]), grad.reshape(-1), (n_rows, n), check_invariants=False
    )
    return torch.sparse.mm(coo, x)


class _TopKEncode(torch.autograd.Function):
    """ReLU + TopK encoder (plus AuxK picks among dead latents) with a sparse backward."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, k, dead_idx, k_aux, compute_dtype, groupmax=False):
        w = W_enc if compute_dtype is None else W_enc.to(compute_dtype)
        xx = x if compute_dtype is None else x.to(compute_dtype)
        pre = torch.addmm(b_enc.to(w.dtype), xx, w)
        # ReLU after the selection: the same values (max commutes with a monotone map), on k columns, not d_sae
        if groupmax:  # sparsify's GroupMax: the largest of each of k contiguous groups of d_sae / k latents
            values, indices = pre.unflatten(-1, (k, -1)).max(dim=-1)
            indices = indices + torch.arange(0, pre.shape[-1], pre.shape[-1] // k, device=pre.device)
        else:
            values, indices = pre.topk(k, dim=-1, sorted=False)
        values = values.relu_()
        if dead_idx is not None:
            # only the dead columns compete for AuxK: a (N, n_dead) top-k, not another (N, d_sae) one
            aux_values, pos = pre[:, dead_idx].topk(k_aux, dim=-1, sorted=False)
            aux_values, aux_indices = aux_values.relu_(), dead_idx[pos]
        else:
            aux_values = aux_indices = None
        values, aux_values = values.to(x.dtype), None if aux_values is None else aux_values.to(x.dtype)
        ctx.save_for_backward(x, W_enc, values, indices, aux_values, aux_indices)
        ctx.mark_non_differentiable(indices)
        if aux_indices is not None:
            ctx.mark_non_differentiable(aux_indices)
        return values, indices, aux_values, aux_indices

    @staticmethod
    def backward(ctx, g_values, _g_idx, g_aux, _g_aux_idx):
        x, W_enc, values, indices, aux_values, aux_indices = ctx.saved_tensors
        g = g_values * (values > 0)  # ReLU: a latent at 0 passes no gradient
        idx = indices
        if aux_indices is not None and g_aux is not None:
            g = torch.cat([g, g_aux * (aux_values > 0)], dim=1)
            idx = torch.cat([indices, aux_indices], dim=1)
        g = g.to(W_enc.dtype)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.embedding_bag(idx, W_enc.t().contiguous(), per_sample_weights=g, mode="sum")
        if ctx.needs_input_grad[1]:
            grad_w = _rows_outer(idx, g, x.to(W_enc.dtype), W_enc.shape[1]).t()
        if ctx.needs_input_grad[2]:
            grad_b = torch.zeros(W_enc.shape[1], dtype=g.dtype, device=g.device)
            grad_b.index_add_(0, idx.reshape(-1), g.reshape(-1))
        return grad_x, grad_w, grad_b, None, None, None, None, None


def _rect(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    """``pre * (pre > threshold)`` with the straight-through threshold gradient of Rajamanoharan et al. 2024."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, g):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        grad_thr = (-(threshold / bw) * _rect((pre - threshold) / bw) * g).sum(0)
        return g * (pre > threshold), grad_thr, None


class _Step(torch.autograd.Function):
    """Heaviside step with the same straight-through estimator, for the L0 penalty."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        return None, (-(1.0 / bw) * _rect((pre - threshold) / bw) * g).sum(0), None


class SparseAutoencoder(PushMixin, PreTrainedModel):
    """A sparse autoencoder over one hook point of a causal LM; see ``SAEConfig`` for the architectures."""

    config_class = SAEConfig
    base_model_prefix = "sae"
    main_input_name = "hidden_states"
    _no_split_modules: list[str] = []

    def __init__(self, config: SAEConfig) -> None:
        super().__init__(config)
        d_in, d_sae = config.d_in, config.d_sae
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.empty(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        if config.architecture == "jumprelu":
            self.log_threshold = nn.Parameter(torch.empty(d_sae))
        if config.architecture == "batchtopk":
            # inference threshold: running mean of the smallest activation BatchTopK kept
            self.threshold = nn.Parameter(torch.zeros(()), requires_grad=False)
        self.post_init()

    # -- init -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Unit-norm random decoder rows, encoder = decoder transpose (Gao et al. 2024), zero biases."""
        if module is not self:
            return
        w = torch.randn_like(self.W_dec, dtype=torch.float32)
        w /= w.norm(dim=-1, keepdim=True)
        self.W_dec.copy_(w)
        self.W_enc.copy_(w.t())
        self.b_enc.zero_()
        self.b_dec.zero_()
        if hasattr(self, "log_threshold"):
            self.log_threshold.fill_(float(torch.tensor(self.config.jumprelu_init_threshold).log()))
        if hasattr(self, "threshold"):
            self.threshold.zero_()

    @property
    def cfg(self) -> SAEConfig:
        """SAELens/SAEBench-style alias of ``config``."""
        return self.config

    @torch.no_grad()
    def set_decoder_norm_to_unit_norm(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_directions(self) -> None:
        """Project out the radial part of the decoder gradient so the unit-norm constraint costs no step."""
        if self.W_dec.grad is None:
            return
        w = self.W_dec
        parallel = (self.W_dec.grad * w).sum(-1, keepdim=True)
        self.W_dec.grad.sub_(parallel * w)

    # -- encode / decode ------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.config.d_in:
            raise ValueError(
                f"SAE input has last dimension {x.shape[-1]}, but this SAE has d_in={self.config.d_in}"
            )
        return x.reshape(-1, self.config.d_in).to(self.W_enc.dtype)

    def _sae_in(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.b_dec if self.config.apply_b_dec_to_input else x

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations (..., d_sae)."""
        flat = self._check_input(x)
        return torch.addmm(self.b_enc, self._sae_in(flat), self.W_enc).reshape(*x.shape[:-1], -1)

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """TopK / GroupMax codes as ``(values, indices)``, each (..., k)."""
        if self.config.architecture not in SPARSE_CODE_ARCHITECTURES:
            raise ValueError(
                f"encode_sparse needs the topk or groupmax architecture, this SAE is {self.config.architecture}"
            )
        flat = self._check_input(x)
        values, indices, _, _ = _TopKEncode.apply(
            self._sae_in(flat),
            self.W_enc,
            self.b_enc,
            self.config.k,
            None,
            0,
            None,
            self.config.architecture == "groupmax",
        )
        return values.reshape(*x.shape[:-1], -1), indices.reshape(*x.shape[:-1], -1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Dense latent activations (..., d_sae), for any architecture (SAELens/SAEBench interface)."""
        arch = self.config.architecture
        if arch in SPARSE_CODE_ARCHITECTURES:
            values, indices = self.encode_sparse(x)
            out = torch.zeros(*values.shape[:-1], self.config.d_sae, dtype=values.dtype, device=values.device)
            return out.scatter_(-1, indices, values)
        pre = self.pre_activations(x)
        if arch == "relu":
            return pre.relu()
        if arch == "jumprelu":
            return _JumpReLU.apply(pre, self.log_threshold.exp(), self.config.jumprelu_bandwidth)
        # batchtopk
        pre = pre.relu()
        if self.training:
            flat = pre.reshape(-1, self.config.d_sae)
            n_keep = min(self.config.k * flat.shape[0], flat.numel())
            values, idx = flat.reshape(-1).topk(n_keep, sorted=False)
            kept = torch.zeros_like(flat).reshape(-1).scatter_(0, idx, values).reshape_as(pre)
            with torch.no_grad():
                smallest = values.detach().min()
                self.threshold.lerp_(smallest.to(self.threshold.dtype), 0.01 if self.threshold > 0 else 1.0)
            return kept
        return pre * (pre > self.threshold)

    def decode(self, acts: torch.Tensor) -> torch.Tensor:
        """Reconstruction from dense latents (..., d_sae)."""
        return acts.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Reconstruction from TopK codes (..., k): gathers k decoder rows per token."""
        shape = values.shape[:-1]
        out = sparse_decode(
            values.reshape(-1, values.shape[-1]), indices.reshape(-1, indices.shape[-1]), self.W_dec
        )
        return (out + self.b_dec).reshape(*shape, self.config.d_in)

    # -- forward ---------------------------------------------------------------------------------------------
    def forward(
        self,
        hidden_states: torch.Tensor,
        dead_mask: torch.Tensor | None = None,
        k_aux: int | None = None,
        auxk_coefficient: float = 1 / 32,
        compute_dtype: torch.dtype | None = None,
        total_variance: torch.Tensor | None = None,
    ) -> SAEOutput:
        """Reconstruct ``hidden_states`` (..., d_in); the loss is FVU plus the architecture's sparsity term.

        ``dead_mask`` (d_sae bools, or the dead latents' indices) turns on the AuxK loss (TopK only): the
        ``k_aux`` largest dead latents model the residual error, which revives them (Gao et al. 2024). Passing
        indices avoids a host sync; the trainer refreshes them every few steps. ``total_variance`` (the sum of
        squared deviations from the batch mean) replaces this batch's own: data-parallel training passes the
        global batch's, so the per-rank losses sum to the single-process loss.
        """
        x = self._check_input(hidden_states)
        if not self.training and not torch.isfinite(x).all():  # training checks once per few steps instead
            raise ValueError("SAE input contains NaN or inf activations")
        cfg = self.config
        if total_variance is None:
            total_variance = (x - x.mean(0)).pow(2).sum()
        total_variance = total_variance.clamp_min(1e-12)
        auxk = sparsity = None
        indices = None
        if cfg.architecture in SPARSE_CODE_ARCHITECTURES:
            k_aux = min(k_aux or cfg.d_in // 2, cfg.d_sae)
            dead_idx = None
            if dead_mask is not None:
                dead_idx = dead_mask.nonzero().squeeze(-1) if dead_mask.dtype == torch.bool else dead_mask
                dead_idx = dead_idx.to(x.device) if dead_idx.numel() else None
            n_dead = 0 if dead_idx is None else dead_idx.numel()
            values, indices, aux_values, aux_indices = _TopKEncode.apply(
                self._sae_in(x),
                self.W_enc,
                self.b_enc,
                cfg.k,
                dead_idx,
                min(k_aux, n_dead),
                compute_dtype,
                cfg.architecture == "groupmax",
            )
            recon = sparse_decode(values, indices, self.W_dec) + self.b_dec
            l0 = (values > 0).sum(-1).float().mean()
            err = x - recon
            if aux_indices is not None:
                e = err.detach()
                e_hat = sparse_decode(aux_values, aux_indices, self.W_dec)
                scale = min(n_dead / k_aux, 1.0)
                auxk = scale * (e_hat - e).pow(2).sum() / total_variance
        else:
            acts = self.encode(x)
            values = acts
            recon = self.decode(acts)
            err = x - recon
            l0 = (acts > 0).sum(-1).float().mean()
            scale = (total_variance / x.shape[0]).sqrt()
            if cfg.architecture == "relu":
                sparsity = cfg.l1_coefficient * (acts * self.W_dec.norm(dim=-1)).sum(-1).mean() / scale
            elif cfg.architecture == "jumprelu":
                pre = self.pre_activations(x)
                step = _Step.apply(pre, self.log_threshold.exp(), cfg.jumprelu_bandwidth)
                sparsity = cfg.l0_coefficient * step.sum(-1).mean() / cfg.d_sae * 100
        fvu = err.pow(2).sum() / total_variance
        loss = fvu
        if auxk is not None:
            loss = loss + auxk_coefficient * auxk
        if sparsity is not None:
            loss = loss + sparsity
        shape = hidden_states.shape[:-1]
        return SAEOutput(
            loss=loss,
            reconstruction=recon.reshape(*shape, cfg.d_in),
            latent_values=values,
            latent_indices=indices,
            fvu=fvu,
            auxk_loss=auxk,
            sparsity_loss=sparsity,
            l0=l0,
        )

    # -- saving ---------------------------------------------------------------------------------------------
    def model_card(self) -> str:
        """The generated README: model, layer, hook point, tokens trained, L0, FVU, dead %."""
        from hf_addons.hub import render_card

        cfg = self.config
        m = cfg.metrics or {}
        return render_card(
            "sae",
            model_name=cfg.model_name or "unknown",
            # a Hub id can be the card's base_model; a local path cannot
            base_model=cfg.model_name
            if cfg.model_name and "/" in cfg.model_name and not os.path.exists(cfg.model_name)
            else None,
            layer=cfg.layer,
            hook_point=cfg.hook_point,
            hook_name=cfg.hook_name or "",
            architecture=cfg.architecture,
            d_in=cfg.d_in,
            d_sae=cfg.d_sae,
            k=cfg.k,
            tokens_trained=cfg.tokens_trained,
            l0=_fmt(m.get("l0")),
            fvu=_fmt(m.get("fvu")),
            dead_pct=_fmt(None if m.get("dead_fraction") is None else 100 * m["dead_fraction"]),
        )

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """``PreTrainedModel.save_pretrained`` plus the generated model card (README.md)."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        Path(save_directory, "README.md").write_text(self.model_card(), encoding="utf-8")
        return out


def _fmt(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.4g}"


AutoConfig.register(SAEConfig.model_type, SAEConfig, exist_ok=True)
AutoModel.register(SAEConfig, SparseAutoencoder, exist_ok=True)
