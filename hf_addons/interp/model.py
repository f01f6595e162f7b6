"""``SparseAutoencoder``: a transformers ``PreTrainedModel`` with TopK (default), BatchTopK, JumpReLU and ReLU+L1.

The TopK path never forms a dense ``N x d_sae`` latent matrix after the encoder: decoding gathers the k active
decoder rows (``embedding_bag``), and the encoder's backward only touches the rows that fired, so a step costs
one dense matmul instead of three. Weight layout follows SAELens (``W_enc``: d_in x d_sae, ``W_dec``:
d_sae x d_in) so SAEBench-style code can use it as is.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
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


def _dead_indices(dead_mask: torch.Tensor | None, device: torch.device) -> tuple[torch.Tensor | None, int]:
    """Dead latents as indices on ``device`` (from a bool mask or indices) and their count; None when none."""
    if dead_mask is None:
        return None, 0
    idx = dead_mask.nonzero().squeeze(-1) if dead_mask.dtype == torch.bool else dead_mask
    if not idx.numel():
        return None, 0
    return idx.to(device), idx.numel()


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


def _sq_sum(t: torch.Tensor) -> torch.Tensor:
    """``t.pow(2).sum()`` in one pass, without the squared temporary."""
    flat = t.reshape(-1)
    return torch.dot(flat, flat)


class _Scratch:
    """Work buffers reused from step to step (a fresh multi-MB tensor costs page faults on every CPU step)."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor, dtype=None) -> torch.Tensor:
        dtype = dtype or like.dtype
        buf = self.buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype or buf.device != like.device:
            buf = self.buffers[name] = torch.empty(shape, dtype=dtype, device=like.device)
        return buf


def _encode_select(x, W_enc, b_enc, k, dead_idx, k_aux, compute_dtype, groupmax, scratch=None):
    """The encoder matmul and the TopK / GroupMax (and AuxK) selection: ``(values, indices, aux_values,
    aux_indices)`` in ``x``'s dtype; ``aux_*`` are ``None`` without dead latents."""
    n, (d_in, d_sae) = x.shape[0], W_enc.shape
    dtype = compute_dtype or W_enc.dtype
    # the trainer may store W_enc as the transpose of a contiguous (d_sae, d_in) matrix: keep that layout
    enc_rows = W_enc.t().is_contiguous()
    if scratch is None:
        w = W_enc.to(dtype)
        pre = torch.addmm(b_enc.to(dtype), x.to(dtype), w)
    else:
        w = W_enc
        if compute_dtype is not None:
            shape = (d_sae, d_in) if enc_rows else (d_in, d_sae)
            w = scratch.get("w_enc_lowp", shape, W_enc, dtype)
            w = w.copy_(W_enc.t()).t() if enc_rows else w.copy_(W_enc)
        pre = scratch.get("pre", (n, d_sae), x, dtype)
        xx = x if compute_dtype is None else scratch.get("x_lowp", tuple(x.shape), x, dtype).copy_(x)
        torch.addmm(b_enc.to(dtype), xx, w, out=pre)
    # ReLU after the selection: the same values (max commutes with a monotone map), on k columns, not d_sae
    if groupmax:  # sparsify's GroupMax: the largest of each of k contiguous groups of d_sae / k latents
        values, indices = pre.unflatten(-1, (k, -1)).max(dim=-1)
        indices = indices + torch.arange(0, pre.shape[-1], pre.shape[-1] // k, device=pre.device)
    else:
        values, indices = row_topk(pre, k)
    if dead_idx is not None:
        # only the dead columns compete for AuxK: a (N, n_dead) top-k, not another (N, d_sae) one
        aux_values, pos = pre[:, dead_idx].topk(k_aux, dim=-1, sorted=False)
        aux_indices = dead_idx[pos]
    else:
        aux_values = aux_indices = None
    if compute_dtype is not None and x.device.type == "cpu":
        # bf16 picks the latents; their values are recomputed in fp32 (k dot products per token), so only a
        # near-tie at the k-th place can differ from fp32
        rows = W_enc.t()
        if not enc_rows and scratch is not None:
            rows = scratch.get("w_enc_t", (d_sae, d_in), W_enc).copy_(rows)
        values = _gathered_dots(x, rows, indices).add_(b_enc[indices])
        if aux_indices is not None:
            aux_values = _gathered_dots(x, rows, aux_indices).add_(b_enc[aux_indices])
    values = values.to(x.dtype).relu_()
    if aux_values is not None:
        aux_values = aux_values.to(x.dtype).relu_()
    return values, indices, aux_values, aux_indices


def row_topk(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``pre.topk(k, dim=-1, sorted=False)``, faster on CPU for a short k in a long row (1.2-1.8x, d_sae 1k-25k).

    CPU topk pays a heap pass per element. Here the row is cut into ``g`` strided slices and each column's
    maximum over them is one vectorised ``amax``; only the k columns with the largest maxima can hold a top-k
    value (any value above the k-th largest column maximum lies in one of them, and each of those k columns
    holds a value at least that large), so the exact top k is a top k of those ``g * k`` candidates. The
    same values as ``topk``; at an exact tie for the k-th place either tied index may be returned, as with
    ``topk``.
    """
    d = pre.shape[-1]
    g = next((g for g in (8, 4) if d % g == 0 and d // g >= 4 * k), 1) if pre.device.type == "cpu" else 1
    if g == 1 or pre.ndim != 2:
        return pre.topk(k, dim=-1, sorted=False)
    n, m = pre.shape[0], d // g
    slices = pre.reshape(n, g, m)
    _, cols = slices.amax(1).topk(k, dim=-1, sorted=False)  # (n, k) columns of the slices
    candidates = slices.gather(2, cols.unsqueeze(1).expand(n, g, k)).view(n, g * k)
    values, pos = candidates.topk(k, dim=-1, sorted=False)
    return values, torch.div(pos, k, rounding_mode="floor").mul_(m).add_(cols.gather(1, pos.remainder(k)))


def _gathered_dots(dense: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``out[n, j] = dense[n] . rows[idx[n, j]]``: the (N, k) entries of ``dense @ rows.T`` that are needed,
    without the (N, d_sae) product or an (N * k, d) gather (a sampled matmul over a CSR pattern)."""
    n, kk = idx.shape
    crow = torch.arange(0, n * kk + 1, kk, device=idx.device)
    with warnings.catch_warnings():  # "CSR support is in beta": sampled_addmm is exact (tested)
        warnings.simplefilter("ignore")
        pattern = torch.sparse_csr_tensor(
            crow,
            idx.reshape(-1),
            torch.zeros(n * kk, dtype=dense.dtype, device=dense.device),  # beta=0 still reads them
            (n, rows.shape[0]),
            check_invariants=False,
        )
    return torch.sparse.sampled_addmm(pattern, dense, rows.t(), beta=0.0).values().view(n, kk)


class _TopKEncode(torch.autograd.Function):
    """ReLU + TopK encoder (plus AuxK picks among dead latents) with a sparse backward."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, k, dead_idx, k_aux, compute_dtype, groupmax=False):
        values, indices, aux_values, aux_indices = _encode_select(
            x, W_enc, b_enc, k, dead_idx, k_aux, compute_dtype, groupmax
        )
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
        grad, w = self.W_dec.grad, self.W_dec
        if grad is None:
            return
        # row-wise dot products through a reused buffer (a fresh (d_sae, d_in) temporary costs page faults on
        # every CPU step; a bmm of d_sae (1 x d_in) @ (d_in x 1) products is 3x slower), then in place
        scratch = self.__dict__.setdefault("_scratch", _Scratch())
        parallel = torch.mul(grad, w, out=scratch.get("radial", tuple(grad.shape), grad)).sum(
            -1, keepdim=True
        )
        grad.addcmul_(parallel, w, value=-1)

    # -- encode / decode ------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.config.d_in:
            raise ValueError(
                f"SAE input has last dimension {x.shape[-1]}, but this SAE has d_in={self.config.d_in}"
            )
        return x.reshape(-1, self.config.d_in).to(self.W_enc.dtype)

    def _sae_in(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.b_dec if self.config.apply_b_dec_to_input else x

    def input_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """Per token, the ``(scale, shift)`` that map this SAE's normalised space back to the model's
        (``x = x_sae * scale + shift``; ``shift`` None for ``constant_norm_rescale``), None without run-time
        normalisation: what a latent's unit is worth at each token (steering scales by it)."""
        mode = self.config.normalize_activations
        if mode == "none":
            return None
        if mode == "constant_norm_rescale":
            return 1 / self._norm_coeff(x), None
        mu = x.mean(-1, keepdim=True)
        return (x - mu).std(-1, keepdim=True), mu

    def _normalize(self, flat: torch.Tensor) -> torch.Tensor:
        """SAELens's run-time input normalisation of (n, d_in) rows; keeps what maps the reconstruction back.

        Like SAELens, ``decode`` maps back with the statistics of the last ``encode`` (SAEBench-style code calls
        the two apart); ``forward`` does both on one batch."""
        stats = self.input_stats(flat)
        if stats is None:
            return flat
        self._norm_stats = stats
        scale, shift = stats
        if shift is None:  # constant_norm_rescale: norm sqrt(d_in), in SAELens's arithmetic (x * coeff)
            return flat * self._norm_coeff(flat)
        return (flat - shift) / (scale + 1e-5)  # layer_norm

    def _norm_coeff(self, x: torch.Tensor) -> torch.Tensor:
        return self.config.d_in**0.5 / x.norm(dim=-1, keepdim=True)

    def _denormalize(self, flat: torch.Tensor) -> torch.Tensor:
        if self.config.normalize_activations == "none":
            return flat
        stats = self.__dict__.get("_norm_stats")
        if stats is None or stats[0].shape[0] != flat.shape[0]:
            raise ValueError(
                f"this SAE normalises its inputs per token ({self.config.normalize_activations}): decode needs "
                "the statistics of the inputs it reconstructs; call encode on the same tokens first, or forward"
            )
        scale, shift = stats
        return flat * scale if shift is None else flat * scale + shift

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations (..., d_sae)."""
        flat = self._normalize(self._check_input(x))
        return torch.addmm(self.b_enc, self._sae_in(flat), self.W_enc).reshape(*x.shape[:-1], -1)

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """TopK / GroupMax codes as ``(values, indices)``, each (..., k)."""
        if self.config.architecture not in SPARSE_CODE_ARCHITECTURES:
            raise ValueError(
                f"encode_sparse needs the topk or groupmax architecture, this SAE is {self.config.architecture}"
            )
        flat = self._normalize(self._check_input(x))
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

    def encode(
        self,
        x: torch.Tensor,
        global_rows: int | None = None,
        gather_values: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Dense latent activations (..., d_sae), for any architecture (SAELens/SAEBench interface).

        BatchTopK in training keeps the ``k x rows`` largest activations of the batch. Data-parallel training
        passes the global batch's row count and ``gather_values`` (this rank's candidate values -> every rank's,
        concatenated), so each rank keeps its part of the global batch's top values."""
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
            rows = global_rows or flat.shape[0]
            n_keep = min(self.config.k * rows, self.config.d_sae * rows)
            values, idx = flat.reshape(-1).topk(min(n_keep, flat.numel()), sorted=False)
            if gather_values is not None:  # the global batch's n_keep-th value, from every rank's candidates
                smallest = gather_values(values.detach()).topk(n_keep, sorted=False).values.min()
                sel = values >= smallest
                values, idx = values[sel], idx[sel]
            else:
                smallest = values.detach().min()
            kept = torch.zeros_like(flat).reshape(-1).scatter_(0, idx, values).reshape_as(pre)
            with torch.no_grad():
                self.threshold.lerp_(smallest.to(self.threshold.dtype), 0.01 if self.threshold > 0 else 1.0)
            return kept
        return pre * (pre > self.threshold)

    def decode(self, acts: torch.Tensor) -> torch.Tensor:
        """Reconstruction from dense latents (..., d_sae)."""
        out = acts.to(self.W_dec.dtype) @ self.W_dec + self.b_dec
        if self.config.normalize_activations == "none":
            return out
        return self._denormalize(out.reshape(-1, self.config.d_in)).reshape(out.shape)

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Reconstruction from TopK codes (..., k): gathers k decoder rows per token."""
        shape = values.shape[:-1]
        out = sparse_decode(
            values.reshape(-1, values.shape[-1]), indices.reshape(-1, indices.shape[-1]), self.W_dec
        )
        return self._denormalize(out + self.b_dec).reshape(*shape, self.config.d_in)

    # -- forward ---------------------------------------------------------------------------------------------
    def forward(
        self,
        hidden_states: torch.Tensor,
        dead_mask: torch.Tensor | None = None,
        k_aux: int | None = None,
        auxk_coefficient: float = 1 / 32,
        compute_dtype: torch.dtype | None = None,
        total_variance: torch.Tensor | None = None,
        global_rows: int | None = None,
        gather_values: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> SAEOutput:
        """Reconstruct ``hidden_states`` (..., d_in); the loss is FVU plus the architecture's sparsity term.

        ``dead_mask`` (d_sae bools, or the dead latents' indices) turns on the AuxK loss (TopK only): the
        ``k_aux`` largest dead latents model the residual error, which revives them (Gao et al. 2024). Passing
        indices avoids a host sync; the trainer refreshes them every few steps. ``total_variance`` (the sum of
        squared deviations from the batch mean) replaces this batch's own: data-parallel training passes the
        global batch's, with its row count ``global_rows`` (the per-token sparsity terms are divided by it) and,
        for BatchTopK, ``gather_values`` (see ``encode``), so the per-rank losses sum to the single-process loss.
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
            dead_idx, n_dead = _dead_indices(dead_mask, x.device)
            values, indices, aux_values, aux_indices = _TopKEncode.apply(
                self._sae_in(self._normalize(x)),
                self.W_enc,
                self.b_enc,
                cfg.k,
                dead_idx,
                min(k_aux, n_dead),
                compute_dtype,
                cfg.architecture == "groupmax",
            )
            recon = self._denormalize(sparse_decode(values, indices, self.W_dec) + self.b_dec)
            l0 = (values > 0).sum(-1).float().mean()
            err = x - recon
            if aux_indices is not None:
                e = err.detach()
                e_hat = sparse_decode(aux_values, aux_indices, self.W_dec)
                scale = min(n_dead / k_aux, 1.0)
                auxk = scale * (e_hat - e).pow(2).sum() / total_variance
        else:
            acts = self.encode(x, global_rows, gather_values)
            values = acts
            recon = self.decode(acts)
            err = x - recon
            l0 = (acts > 0).sum(-1).float().mean()
            rows = global_rows or x.shape[0]  # per-token means over the global batch: sums / its rows
            scale = (total_variance / rows).sqrt()
            if cfg.architecture == "relu":
                sparsity = cfg.l1_coefficient * (acts * self.W_dec.norm(dim=-1)).sum() / rows / scale
            elif cfg.architecture == "jumprelu":
                pre = self.pre_activations(x)
                step = _Step.apply(pre, self.log_threshold.exp(), cfg.jumprelu_bandwidth)
                sparsity = cfg.l0_coefficient * step.sum() / rows / cfg.d_sae * 100
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

    @torch.no_grad()
    def topk_loss_and_grads(
        self,
        hidden_states: torch.Tensor,
        dead_mask: torch.Tensor | None = None,
        k_aux: int | None = None,
        auxk_coefficient: float = 1 / 32,
        compute_dtype: torch.dtype | None = None,
        total_variance: torch.Tensor | None = None,
    ) -> SAEOutput:
        """``forward`` + ``loss.backward()`` for TopK / GroupMax in closed form, without an autograd graph.

        The same loss and gradients (accumulated into ``.grad``; tested against autograd), at a fraction of the
        cost: every gradient is a sparse product over the k (and k_aux) active latents, the decoder's per-latent
        gradients come from a sampled matmul, and ``b_dec``'s gradient through the encoder input is one
        mat-vec (``W_enc @ grad_b_enc``) instead of an (N, d_in) scatter. Arguments as in ``forward``.
        """
        cfg = self.config
        if cfg.architecture not in SPARSE_CODE_ARCHITECTURES:
            raise ValueError(f"topk_loss_and_grads needs topk or groupmax, this SAE is {cfg.architecture}")
        # a plain attribute, not a module buffer: never saved, never part of the state dict
        scratch = self.__dict__.setdefault("_scratch", _Scratch())
        x = self._check_input(hidden_states)
        if total_variance is None:
            total_variance = _sq_sum(torch.sub(x, x.mean(0), out=scratch.get("work", tuple(x.shape), x)))
        total_variance = total_variance.clamp_min(1e-12)
        k_aux = min(k_aux or cfg.d_in // 2, cfg.d_sae)
        dead_idx, n_dead = _dead_indices(dead_mask, x.device)
        x_in = x
        if cfg.apply_b_dec_to_input:
            x_in = torch.sub(x, self.b_dec, out=scratch.get("x_in", tuple(x.shape), x))
        values, indices, aux_values, aux_indices = _encode_select(
            x_in,
            self.W_enc,
            self.b_enc,
            cfg.k,
            dead_idx,
            min(k_aux, n_dead),
            compute_dtype,
            cfg.architecture == "groupmax",
            scratch,
        )
        recon = sparse_decode(values, indices, self.W_dec).add_(self.b_dec)
        err = torch.sub(recon, x, out=scratch.get("err", tuple(x.shape), x))
        fvu = _sq_sum(err) / total_variance
        grad_recon = torch.mul(
            err, 2 / total_variance, out=scratch.get("work", tuple(x.shape), x)
        )  # d fvu/d recon
        loss, auxk = fvu, None
        # one (value, index) list per token for both losses; the AuxK rows read their own residual
        idx, vals, dense = indices, values, grad_recon
        if aux_indices is not None:
            scale = min(n_dead / k_aux, 1.0)
            aux_err = sparse_decode(aux_values, aux_indices, self.W_dec).add_(err)  # e_hat - (x - recon)
            auxk = scale * _sq_sum(aux_err) / total_variance
            loss = fvu + auxk_coefficient * auxk
            grad_aux = aux_err.mul_(2 * scale * auxk_coefficient / total_variance)
            n, kk, ka = x.shape[0], indices.shape[1], aux_indices.shape[1]
            # the aux codes as extra "tokens" N..2N-1: one sparse product covers both terms
            idx = torch.cat([indices.reshape(-1), aux_indices.reshape(-1)])
            rows = torch.cat(
                [
                    torch.arange(n, device=x.device).repeat_interleave(kk),
                    torch.arange(n, 2 * n, device=x.device).repeat_interleave(ka),
                ]
            )
            g_vals = torch.cat(
                [
                    _gathered_dots(grad_recon, self.W_dec, indices).reshape(-1),
                    _gathered_dots(grad_aux, self.W_dec, aux_indices).reshape(-1),
                ]
            )
            vals = torch.cat([values.reshape(-1), aux_values.reshape(-1)])
            dense = torch.cat([grad_recon, grad_aux])
            x_rows = torch.cat([x_in, x_in])
        else:
            n, kk = indices.shape
            idx, vals = indices.reshape(-1), values.reshape(-1)
            rows = torch.arange(n, device=x.device).repeat_interleave(kk)
            g_vals = _gathered_dots(grad_recon, self.W_dec, indices).reshape(-1)
            x_rows = x_in
        g_pre = g_vals.mul_(vals > 0)  # ReLU: a latent at 0 passes no gradient
        pattern = torch.stack([idx, rows])
        shape = (cfg.d_sae, dense.shape[0])

        def rows_mm(weights: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
            return torch.sparse.mm(
                torch.sparse_coo_tensor(pattern, weights, shape, check_invariants=False), right
            )

        grad_b_enc = torch.zeros(cfg.d_sae, dtype=x.dtype, device=x.device).index_add_(0, idx, g_pre)
        grad_b_dec = grad_recon.sum(0)
        if cfg.apply_b_dec_to_input:  # x_in = x - b_dec: sum_n d loss / d x_in[n] = W_enc @ grad_b_enc
            grad_b_dec.sub_(self.W_enc @ grad_b_enc)
        # (d_sae, d_in) products; W_enc's gradient is their transpose, accumulated in place when the trainer
        # stores W_enc (and so its gradient) with (d_sae, d_in) rows
        enc_coo = torch.sparse_coo_tensor(pattern, g_pre, shape, check_invariants=False)
        if self.W_enc.grad is None:
            self.W_enc.grad = torch.zeros_like(self.W_enc)  # keeps W_enc's layout
        if self.W_enc.grad.t().is_contiguous():
            self.W_enc.grad.t().addmm_(enc_coo, x_rows)
        else:
            enc_t = scratch.get("grad_w_enc_t", (cfg.d_sae, cfg.d_in), x)
            self.W_enc.grad.add_(enc_t.zero_().addmm_(enc_coo, x_rows).t())
        for name, g in (("b_enc", grad_b_enc), ("b_dec", grad_b_dec)):
            param = getattr(self, name)
            if param.grad is None:
                param.grad = g.contiguous()
            else:  # the trainer keeps its gradient buffers (zeroed, not freed): no fresh pages each step
                param.grad.add_(g)
        if self.W_dec.grad is None:
            self.W_dec.grad = rows_mm(vals, dense)
        else:
            self.W_dec.grad.addmm_(
                torch.sparse_coo_tensor(pattern, vals, shape, check_invariants=False), dense
            )
        return SAEOutput(
            loss=loss,
            reconstruction=recon.reshape(*hidden_states.shape[:-1], cfg.d_in),
            latent_values=values,
            latent_indices=indices,
            fvu=fvu,
            auxk_loss=auxk,
            l0=(values > 0).sum(-1).float().mean(),
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
