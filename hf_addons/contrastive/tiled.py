"""Tiled, exact reductions over the similarity matrix ``scale * rows @ cols.T + bias`` (pure PyTorch).

The N x N logits are never stored: tiles of the matrix are computed, reduced and dropped in the forward, and
recomputed in the backward (the FlashAttention / Inf-CL trick). Both softmax directions are reduced in the same
pass over a tile, so each tile costs one matmul forward and three backward (recompute, two gradients).

Layout shared by both functions: ``rows = [paired rows; extra negative rows]`` and
``cols = [paired cols; extra negative cols]``. Paired rows meet every column, negative rows only the paired
columns (the negative x negative block means nothing and is skipped).
"""

from __future__ import annotations

import os

import torch

_LOW_PRECISION = (torch.bfloat16, torch.float16)
_MM_OUT_DTYPE_OK: dict[str, bool] = {}
# at most this many logits (16 MiB of fp32) are kept from the forward for the backward instead of recomputed:
# small batches then cost 3 matmuls per logit instead of 4, and the memory stays O(N) above it
KEEP_LOGITS = 1 << 22


def default_tile(device: torch.device) -> tuple[int, int]:
    """(rows, cols) per tile: 1 MiB of fp32 on CPU (stays in L2), 64 MiB on GPU (few launches, <= 0.25 GiB)."""
    return (2048, 8192) if device.type == "cuda" else (256, 1024)


def check_tile(tile) -> tuple[int, int]:
    """``tile`` as two positive ints (rows, cols), or a clear error."""
    try:
        rows, cols = (int(t) for t in tile)
    except (TypeError, ValueError):
        raise ValueError(f"tile must be two positive ints (rows, cols); got {tile!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"tile must be two positive ints (rows, cols); got {tile!r}")
    return rows, cols


def _tile(tile, device) -> tuple[int, int]:
    return default_tile(device) if tile is None else tile


def low_precision_matmul(device: torch.device) -> bool:
    """Whether bf16/fp16 features are multiplied in their own dtype on ``device``.

    CUDA: yes (tensor cores). CPU: only where bf16 matmuls are native (AMX / AVX512-BF16), where they run several
    times faster than fp32; logits then carry bf16 rounding, as in open_clip's and transformers' losses. Elsewhere,
    or with ``HF_ADDONS_CLIP_EXACT_BF16=1``, the features are upcast once and the logits are fp32 (slower on
    such CPUs, ~370x closer to the fp64 loss).
    """
    if device.type == "cuda":
        return True
    if os.environ.get("HF_ADDONS_CLIP_EXACT_BF16", "") not in ("", "0"):
        return False
    from hf_addons.hardware import cpu_has_fast_bf16

    return cpu_has_fast_bf16()


def _mm_fp32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` with an fp32 result; low-precision inputs keep their fast matmul where the backend allows."""
    if a.dtype not in _LOW_PRECISION:
        return a @ b
    key = a.device.type
    if _MM_OUT_DTYPE_OK.get(key, True):
        try:
            return torch.mm(a, b, out_dtype=torch.float32)
        except (NotImplementedError, RuntimeError, TypeError):
            _MM_OUT_DTYPE_OK[key] = False
    # no bf16-in / fp32-out matmul here: keep the fast low-precision one, its result carries bf16 rounding
    return (a @ b).float()


def _acc(t: torch.Tensor) -> torch.dtype:
    """Accumulation dtype: fp32, or fp64 for fp64 inputs."""
    return torch.promote_types(t.dtype, torch.float32)


def _ranges(n_paired: int, n_total: int, step: int) -> list[tuple[int, int]]:
    """Ranges of at most ``step`` that never straddle the paired / extra-negative boundary."""
    out = [(a, min(a + step, n_paired)) for a in range(0, n_paired, step)]
    return out + [(a, min(a + step, n_total)) for a in range(n_paired, n_total, step)]


def _prep(rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Matmul operands: low precision is upcast once where its matmul is not native (see ``low_precision_matmul``)."""
    if rows.dtype in _LOW_PRECISION and not low_precision_matmul(rows.device):
        return rows.float(), cols.float()
    return rows, cols


def _tiles(n_rows: int, n_cols: int, rows: torch.Tensor, cols: torch.Tensor, tile):
    """(r0, r1, paired_row, col ranges): paired rows meet every column, negative rows the paired columns only."""
    tr, tc = _tile(tile, rows.device)
    for r0, r1 in _ranges(n_rows, rows.shape[0], tr):
        paired = r0 < n_rows
        yield r0, r1, paired, _ranges(n_cols, cols.shape[0] if paired else n_cols, tc)


def _logits(rows_c, cols_c, scale, bias, mask, r0, r1, c0, c1) -> torch.Tensor:
    """One fp32 tile ``scale * rows[r0:r1] @ cols[c0:c1].T + bias`` with duplicates masked to -inf."""
    out = _mm_fp32(rows_c[r0:r1], cols_c[c0:c1].t())
    out.mul_(scale)
    if bias is not None:
        out.add_(bias)
    if mask is not None:
        mask(out, r0, r1, c0, c1)
    return out


def _make_mask(row_ids, col_ids, row_offset: int, n_rows: int, n_cols: int):
    """Mask (to -inf) same-id pairs other than the pair itself: duplicates are not negatives of each other."""
    if row_ids is None:
        return None
    dev = row_ids.device

    def apply(logits: torch.Tensor, r0: int, r1: int, c0: int, c1: int) -> None:
        if r0 >= n_rows or c0 >= n_cols:  # extra negatives are never duplicates
            return
        same = row_ids[r0:r1, None] == col_ids[None, c0:c1]
        ri = torch.arange(r0 + row_offset, r1 + row_offset, device=dev)
        same &= ri[:, None] != torch.arange(c0, c1, device=dev)[None, :]
        logits.masked_fill_(same, float("-inf"))

    return apply


class BidirectionalLSE(torch.autograd.Function):
    """Row and column log-sum-exp of the (masked) logits in one pass; O(N) memory; exact gradients.

    Returns ``lse_row`` for the paired rows (over every column) and ``lse_col`` for the paired columns (over
    every row given here: in the local-loss distributed mode that is this rank's rows only, a partial value the
    caller reduces across ranks).
    """

    @staticmethod
    def forward(ctx, rows, cols, scale, bias, n_rows, n_cols, row_ids, col_ids, row_offset, tile):
        rows_c, cols_c = _prep(rows, cols)
        mask = _make_mask(row_ids, col_ids, row_offset, n_rows, n_cols)
        acc = _acc(rows)
        lse_row = torch.full((n_rows,), float("-inf"), device=rows.device, dtype=acc)
        lse_col = torch.full((n_cols,), float("-inf"), device=rows.device, dtype=acc)
        keep = rows.shape[0] * cols.shape[0] <= KEEP_LOGITS and any(ctx.needs_input_grad[:4])
        kept: dict[tuple[int, int], torch.Tensor] = {}
        for r0, r1, paired, col_ranges in _tiles(n_rows, n_cols, rows, cols, tile):
            for c0, c1 in col_ranges:
                logits = _logits(rows_c, cols_c, scale, bias, mask, r0, r1, c0, c1)
                if keep:
                    kept[r0, c0] = logits
                if paired:
                    torch.logaddexp(lse_row[r0:r1], torch.logsumexp(logits, 1), out=lse_row[r0:r1])
                if c0 < n_cols:
                    torch.logaddexp(lse_col[c0:c1], torch.logsumexp(logits, 0), out=lse_col[c0:c1])
        ctx.save_for_backward(rows, cols, scale, bias, row_ids, col_ids, lse_row, lse_col)
        ctx.meta = (n_rows, n_cols, row_offset, tile)
        ctx.kept = kept
        return lse_row, lse_col

    @staticmethod
    def backward(ctx, g_row, g_col):
        rows, cols, scale, bias, row_ids, col_ids, lse_row, lse_col = ctx.saved_tensors
        n_rows, n_cols, row_offset, tile = ctx.meta
        mask = _make_mask(row_ids, col_ids, row_offset, n_rows, n_cols)
        # a column whose entries here are all masked (possible for a partial, per-rank lse) has lse -inf: make it
        # +inf so its (masked, -inf) entries give exp(-inf) = 0 instead of exp(-inf + inf) = nan
        lse_col = lse_col.masked_fill(lse_col == float("-inf"), float("inf"))

        def grad_tile(logits, r0, r1, c0, c1, paired):
            use_col = g_col is not None and c0 < n_cols
            if paired and g_row is not None:
                grad = (logits - lse_row[r0:r1, None]).exp_().mul_(g_row[r0:r1, None])
                if use_col:
                    grad.add_(logits.sub_(lse_col[None, c0:c1]).exp_().mul_(g_col[None, c0:c1]))
                return grad
            if use_col:
                return logits.sub_(lse_col[None, c0:c1]).exp_().mul_(g_col[None, c0:c1])
            return None

        kept, ctx.kept = ctx.kept, None
        grads = _backward_tiles(rows, cols, scale, bias, mask, n_rows, n_cols, tile, grad_tile, kept)
        return _finish(ctx, rows, cols, scale, bias, *grads) + (None,) * 6


def _backward_tiles(rows, cols, scale, bias, mask, n_rows, n_cols, tile, grad_tile, kept=None):
    """Recompute each tile (or take it from ``kept``, the forward's), turn it into d loss / d logits, and
    accumulate the feature gradients.

    A row block's gradient is complete after its pass over the columns: it is summed into d scale, scaled and
    cast right then, so only the column side keeps a full fp32 N x D accumulator (for bf16 features on a GPU
    that is one fp32 N x D buffer fewer: 64 MiB at N=32k, 0.5 GiB at N=262k, D=512). Returns the finished
    ``d_rows``, the raw fp32 ``d_cols``, ``d_bias`` and the rows' part of ``d scale``.
    """
    rows_c, cols_c = _prep(rows, cols)
    acc = _acc(rows)
    d_rows = torch.empty(rows.shape, device=rows.device, dtype=rows.dtype)
    d_cols = torch.zeros(cols.shape, device=rows.device, dtype=acc)
    d_bias = torch.zeros((), device=rows.device, dtype=acc)
    d_scale = torch.zeros((), device=rows.device, dtype=acc)
    for r0, r1, paired, col_ranges in _tiles(n_rows, n_cols, rows, cols, tile):
        blk = torch.zeros((r1 - r0, rows.shape[1]), device=rows.device, dtype=acc)
        for c0, c1 in col_ranges:
            logits = (
                kept.pop((r0, c0)) if kept else _logits(rows_c, cols_c, scale, bias, mask, r0, r1, c0, c1)
            )
            grad = grad_tile(logits, r0, r1, c0, c1, paired)
            if grad is None:
                continue
            if bias is not None:
                d_bias += grad.sum()
            g = grad.to(rows_c.dtype)
            blk += _mm_fp32(g, cols_c[c0:c1])
            d_cols[c0:c1] += _mm_fp32(g.t(), rows_c[r0:r1])
        d_scale += (rows[r0:r1].to(acc) * blk).sum()  # logits are linear in scale: d scale = sum(rows * raw)
        d_rows[r0:r1] = blk.mul_(scale)
    return d_rows, d_cols, d_bias, d_scale


def _finish(ctx, rows, cols, scale, bias, d_rows, d_cols, d_bias, d_scale):
    """Scale the column gradient and pick the gradients autograd asked for."""
    d_scale = d_scale.to(scale.dtype) if ctx.needs_input_grad[2] else None
    d_rows = d_rows if ctx.needs_input_grad[0] else None
    d_cols = d_cols.mul_(scale).to(cols.dtype) if ctx.needs_input_grad[1] else None  # in place: no extra copy
    d_bias = d_bias if (bias is not None and ctx.needs_input_grad[3]) else None
    return d_rows, d_cols, d_scale, d_bias


def _softplus(x: torch.Tensor) -> torch.Tensor:
    """softplus whose linear cut-over (50) is far enough out to be exact in fp64 (F.softplus cuts at 20)."""
    return torch.nn.functional.softplus(x, threshold=50.0)


class SoftplusSum(torch.autograd.Function):
    """``sum(softplus(logits))`` over paired rows x all columns and negative rows x paired columns (SigLIP)."""

    @staticmethod
    def forward(ctx, rows, cols, scale, bias, n_rows, n_cols, tile):
        rows_c, cols_c = _prep(rows, cols)
        total = torch.zeros((), device=rows.device, dtype=_acc(rows))
        for r0, r1, _, col_ranges in _tiles(n_rows, n_cols, rows, cols, tile):
            for c0, c1 in col_ranges:
                total += _softplus(_logits(rows_c, cols_c, scale, bias, None, r0, r1, c0, c1)).sum()
        ctx.save_for_backward(rows, cols, scale, bias)
        ctx.meta = (n_rows, n_cols, tile)
        return total

    @staticmethod
    def backward(ctx, g):
        rows, cols, scale, bias = ctx.saved_tensors
        n_rows, n_cols, tile = ctx.meta

        def grad_tile(logits, *_):
            return logits.sigmoid_().mul_(g)

        grads = _backward_tiles(rows, cols, scale, bias, None, n_rows, n_cols, tile, grad_tile)
        return _finish(ctx, rows, cols, scale, bias, *grads) + (None,) * 3
