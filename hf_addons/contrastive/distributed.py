"""Data-parallel CLIP / SigLIP losses over a ``torch.distributed`` group, equal to the single-process loss.

Two modes, as in open_clip, with the same contract under DDP (which averages gradients over ranks):

* ``"gather"``: every rank gathers all features (with gradient) and computes the whole loss; every rank returns
  the global loss value. Feature gradients come out ``world_size`` times the single-process ones, which DDP's
  averaging turns back into the exact single-process parameter gradient.
* ``"local"``: each rank only computes its own rows of the similarity matrix (1/world of the work, no duplicated
  N x N compute, unlike open_clip's local loss which still builds both n x N blocks). The column log-sum-exps
  are partial per rank and combined with one all-gather of an N-vector; rank ``r`` returns ``world_size`` times
  its share, so the mean over ranks is the global loss and DDP yields the exact single-process gradient.

Every rank must hold the same number of pairs (and of extra negatives).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from hf_addons.contrastive.loss import (
    _as_ids,
    _check,
    _negatives,
    _up,
    clip_combine,
    clip_loss_tiled,
    siglip_loss_tiled,
    siglip_positive_sum,
)
from hf_addons.contrastive.tiled import BidirectionalLSE, SoftplusSum, check_tile

MODES = ("gather", "local")


def world(group=None) -> tuple[int, int]:
    """(rank, world size), (0, 1) when torch.distributed is not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


class _AllGather(torch.autograd.Function):
    """Concatenate every rank's tensor along dim 0; backward sums the gradients and keeps this rank's slice."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x, group=group)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        rank, size = dist.get_rank(ctx.group), dist.get_world_size(ctx.group)
        grad = grad.contiguous()
        n = grad.shape[0] // size
        if dist.get_backend(ctx.group) == dist.Backend.NCCL:
            out = torch.empty((n, *grad.shape[1:]), device=grad.device, dtype=grad.dtype)
            dist.reduce_scatter_tensor(out, grad, group=ctx.group)
            return out, None
        dist.all_reduce(grad, group=ctx.group)  # gloo has no reduce-scatter
        return grad[rank * n : (rank + 1) * n].clone(), None


def all_gather_with_grad(x: torch.Tensor, group=None) -> torch.Tensor:
    return _AllGather.apply(x, group)


class _LogSumExpAcrossRanks(torch.autograd.Function):
    """``logsumexp`` over ranks of per-rank partial log-sum-exps (same shape everywhere)."""

    @staticmethod
    def forward(ctx, partial, group):
        parts = [torch.empty_like(partial) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, partial.contiguous(), group=group)
        total = torch.logsumexp(torch.stack(parts), dim=0)
        ctx.save_for_backward(partial, total)
        ctx.group = group
        return total

    @staticmethod
    def backward(ctx, grad):
        partial, total = ctx.saved_tensors
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)  # each rank's loss only reads its own columns
        return grad * (partial - total).exp(), None


def _check_equal_sizes(group, device, *tensors: torch.Tensor | None) -> None:
    sizes = torch.tensor([0 if t is None else t.shape[0] for t in tensors], dtype=torch.long, device=device)
    parts = [torch.empty_like(sizes) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, sizes, group=group)
    if not all(torch.equal(p, parts[0]) for p in parts):
        raise ValueError(
            "every rank must hold the same number of pairs and of extra negatives; got (pairs, text negatives, "
            f"image negatives) per rank = {[p.tolist() for p in parts]}"
        )


def _gather_inputs(image, text, text_negatives, image_negatives, pair_ids, group):
    t_neg = _negatives(text_negatives, text, "text_negatives")
    i_neg = _negatives(image_negatives, image, "image_negatives")
    ids = _as_ids(pair_ids, image.shape[0], image.device)
    _check_equal_sizes(group, image.device, image, t_neg, i_neg, ids)
    gathered = [None if t is None else all_gather_with_grad(t, group) for t in (image, text, t_neg, i_neg)]
    ids_all = None if ids is None else _AllGather.apply(ids, group)
    return t_neg, i_neg, ids, gathered, ids_all


def distributed_clip_loss(
    image, text, scale, bias=None, *, mode="local", group=None, label_smoothing=0.0, **kw
):
    """CLIP loss over the whole data-parallel batch; see the module docstring for what each mode returns."""
    return _distributed(
        clip_loss_tiled, _clip_local, image, text, scale, bias, mode, group, label_smoothing, **kw
    )


def distributed_siglip_loss(image, text, scale, bias=None, *, mode="local", group=None, **kw):
    """SigLIP loss over the whole data-parallel batch (same contract as ``distributed_clip_loss``)."""
    return _distributed(siglip_loss_tiled, _siglip_local, image, text, scale, bias, mode, group, None, **kw)


def _distributed(
    single_fn,
    local_fn,
    image,
    text,
    scale,
    bias,
    mode,
    group,
    label_smoothing,
    *,
    text_negatives=None,
    image_negatives=None,
    pair_ids=None,
    tile: tuple[int, int] | None = None,
    check_finite: bool = True,
):
    if mode not in MODES:
        raise ValueError(f"distributed mode must be one of {MODES}; got {mode!r}")
    _check(image, text, check_finite)
    rank, _ = world(group)
    t_neg, i_neg, ids, (img_all, txt_all, tneg_all, ineg_all), ids_all = _gather_inputs(
        image, text, text_negatives, image_negatives, pair_ids, group
    )
    smoothing = {} if label_smoothing is None else {"label_smoothing": label_smoothing}
    if mode == "gather":
        return single_fn(
            img_all,
            txt_all,
            scale,
            bias,
            text_negatives=tneg_all,
            image_negatives=ineg_all,
            pair_ids=ids_all,
            tile=tile,
            check_finite=False,
            **smoothing,
        )
    n = image.shape[0]
    # this rank's rows (its images, then its image negatives) against every rank's columns
    parts = {
        "rows": image if i_neg is None else torch.cat([image, i_neg]),
        "cols": txt_all if tneg_all is None else torch.cat([txt_all, tneg_all]),
        "rows_all": img_all if ineg_all is None else torch.cat([img_all, ineg_all]),
        "img_all": img_all,
        "txt_all": txt_all,
        "ids": ids,
        "ids_all": ids_all,
        "sel": slice(rank * n, (rank + 1) * n),
        "offset": rank * n,
    }
    scale = _up(torch.as_tensor(scale, device=image.device))
    tile = None if tile is None else check_tile(tile)
    return local_fn(image, text, scale, bias, parts, tile, group, label_smoothing)


def _clip_local(image, text, scale, bias, p, tile, group, eps):
    n, n_all = image.shape[0], p["img_all"].shape[0]
    lse_row, lse_col_part = BidirectionalLSE.apply(
        p["rows"], p["cols"], scale, bias, n, n_all, p["ids"], p["ids_all"], p["offset"], tile
    )
    lse_col = _LogSumExpAcrossRanks.apply(lse_col_part, group)[p["sel"]]
    return clip_combine(
        lse_row, lse_col, image, text, p["rows_all"], p["cols"], scale, bias, eps, p["ids_all"],
        p["img_all"], p["txt_all"], p["sel"],
    )  # fmt: skip


def _siglip_local(image, text, scale, bias, p, tile, group, _):
    n, n_all = image.shape[0], p["img_all"].shape[0]
    total = SoftplusSum.apply(p["rows"], p["cols"], scale, bias, n, n_all, tile)
    return (total - siglip_positive_sum(image, p["txt_all"], scale, bias, p["ids_all"], p["sel"])) / n
