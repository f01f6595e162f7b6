"""CLIP (softmax InfoNCE) and SigLIP (sigmoid) losses with O(N) memory and the naive loss's exact values.

Math, for N pairs ``(image_i, text_i)``, logits ``L = s * I @ T.T + b`` with ``s = exp(min(t, log(max_scale)))``:

    clip   = 1/2 * [mean_i CE(L[i, :], i) + mean_j CE(L[:, j], j)]      (label smoothing as in F.cross_entropy)
    siglip = 1/N * sum_ij softplus(-z_ij * L_ij),   z_ij = +1 for a positive pair, -1 otherwise

Only the log-sum-exp (CLIP) / softplus sum (SigLIP) needs the N x N matrix; it runs tiled in ``tiled.py``.
Everything else (positives, label-smoothing means, duplicate corrections) is linear in the logits and is
computed in O(N * D) with ordinary autograd.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hf_addons.contrastive.tiled import BidirectionalLSE, SoftplusSum, check_tile

MAX_LOGIT_SCALE = 100.0
BACKENDS = ("auto", "torch", "triton")

# "auto" picks the fused Triton kernels only once a GPU benchmark row (benchmarks/bench_clip_gpu.py) shows they
# beat the PyTorch tiles; no GPU has been lent to this project yet, so "auto" means "torch" until then.
TRITON_MEASURED_TO_PAY = False


class _ClampMax(torch.autograd.Function):
    """``min(x, hi)`` whose gradient still flows when it would pull ``x`` back under ``hi``.

    ``torch.clamp`` zeroes the gradient above the bound, so a log-temperature that overshoots stays stuck there
    forever; here a clamped parameter keeps receiving gradients that lower it, and none that raise it.
    """

    @staticmethod
    def forward(ctx, x, hi):
        ctx.save_for_backward(x)
        ctx.hi = hi
        return x.clamp(max=hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where((x <= ctx.hi) | (g > 0), g, torch.zeros_like(g)), None


def clamp_logit_scale(log_scale: torch.Tensor, max_scale: float | None = MAX_LOGIT_SCALE) -> torch.Tensor:
    """``exp(min(log_scale, log(max_scale)))`` with the one-sided gradient of ``_ClampMax``."""
    if max_scale is None:
        return log_scale.exp()
    return _ClampMax.apply(log_scale, math.log(max_scale)).exp()


def _up(x: torch.Tensor) -> torch.Tensor:
    """At least fp32 (fp64 stays fp64): the precision the tiled reductions accumulate in."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _check(image: torch.Tensor, text: torch.Tensor, check_finite: bool) -> None:
    if image.dim() != 2 or text.dim() != 2:
        raise ValueError(
            f"features must be 2-D (batch, dim); got image {tuple(image.shape)}, text {tuple(text.shape)}"
        )
    if image.shape != text.shape:
        raise ValueError(
            f"image and text features must have the same (batch, dim); got {tuple(image.shape)} vs "
            f"{tuple(text.shape)}"
        )
    if image.shape[0] == 0:
        raise ValueError("empty batch: need at least one (image, text) pair")
    if check_finite and not bool(torch.isfinite(image).all() & torch.isfinite(text).all()):
        raise ValueError("non-finite (NaN/inf) values in the image or text features")


def _negatives(neg: torch.Tensor | None, like: torch.Tensor, name: str) -> torch.Tensor | None:
    if neg is None or neg.numel() == 0:
        return None
    if neg.dim() != 2 or neg.shape[1] != like.shape[1]:
        raise ValueError(f"{name} must be (K, {like.shape[1]}); got {tuple(neg.shape)}")
    return neg.to(like.dtype)


def _group_sums(ids: torch.Tensor, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the sum of ``feats`` over the other rows sharing its id, and how many there are."""
    _, inv, counts = torch.unique(ids, return_inverse=True, return_counts=True)
    sums = torch.zeros(counts.shape[0], feats.shape[1], device=feats.device, dtype=_up(feats).dtype)
    sums.index_add_(0, inv, _up(feats))
    return sums[inv] - _up(feats), (counts[inv] - 1).float()


def _as_ids(pair_ids: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
    if pair_ids is None:
        return None
    pair_ids = torch.as_tensor(pair_ids, device=device)
    if pair_ids.shape != (n,):
        raise ValueError(f"pair_ids must have shape ({n},) (one id per pair); got {tuple(pair_ids.shape)}")
    return pair_ids.long()


def _assemble(image, text, scale, text_negatives, image_negatives, pair_ids, tile, check_finite):
    """Validated inputs laid out for the tiled kernels: rows = [images; image negatives], cols likewise."""
    _check(image, text, check_finite)
    t_neg = _negatives(text_negatives, text, "text_negatives")
    i_neg = _negatives(image_negatives, image, "image_negatives")
    n = image.shape[0]
    rows = image if i_neg is None else torch.cat([image, i_neg])
    cols = text if t_neg is None else torch.cat([text, t_neg])
    scale = _up(torch.as_tensor(scale, device=image.device))
    return (
        n,
        rows,
        cols,
        _as_ids(pair_ids, n, image.device),
        scale,
        None if tile is None else check_tile(tile),
    )


def check_backend(backend: str) -> str:
    """``backend`` itself, or a ValueError listing the valid names (checked at construction, not first call)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    return backend


def resolve_backend(backend: str, rows: torch.Tensor, cols: torch.Tensor, plain: bool) -> str:
    """``"torch"`` or ``"triton"`` for these operands; ``plain`` = no duplicate masking and no extra negatives.

    ``"triton"`` raises a ValueError naming why it cannot run; ``"auto"`` takes it only where it was measured to
    pay (``TRITON_MEASURED_TO_PAY``) and can run, else the PyTorch tiles.
    """
    check_backend(backend)
    if backend == "torch" or (backend == "auto" and not TRITON_MEASURED_TO_PAY):
        return "torch"
    from hf_addons.contrastive.triton_kernels import unsupported_reason

    reason = unsupported_reason(rows, cols)
    if reason is None and not plain:
        reason = "pair_ids and extra negatives are only in the PyTorch path"
    if reason is None:
        return "triton"
    if backend == "triton":
        raise ValueError(f"backend='triton' cannot run here: {reason}; use backend='torch' or 'auto'")
    return "torch"


def clip_loss_tiled(
    image: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    text_negatives: torch.Tensor | None = None,
    image_negatives: torch.Tensor | None = None,
    pair_ids: torch.Tensor | None = None,
    tile: tuple[int, int] | None = None,
    check_finite: bool = True,
    backend: str = "auto",
) -> torch.Tensor:
    """Symmetric InfoNCE without the N x N matrix; ``scale`` is the (already clamped) multiplier, not its log.

    ``text_negatives`` (K, D) are extra columns for the image->text direction, ``image_negatives`` extra rows
    for text->image. ``pair_ids`` (N,): pairs with the same id are duplicates (same caption, same image) and are
    not used as negatives of each other. Label smoothing spreads over the classes that are not masked.
    ``backend``: ``"torch"`` (PyTorch tiles, any device), ``"triton"`` (fused kernels: CUDA, no pair_ids or
    negatives; ``tile`` is ignored) or ``"auto"`` (see ``resolve_backend``).
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1); got {label_smoothing}")
    n, rows, cols, ids, scale, tile = _assemble(
        image, text, scale, text_negatives, image_negatives, pair_ids, tile, check_finite
    )
    plain = ids is None and rows.shape[0] == n and cols.shape[0] == n
    if resolve_backend(backend, rows, cols, plain) == "triton":
        from hf_addons.contrastive.triton_kernels import TritonBidirectionalLSE

        lse_row, lse_col = TritonBidirectionalLSE.apply(rows, cols, scale)
        if bias is not None:  # lse(l + b) = lse(l) + b: the bias stays out of the kernels
            lse_row, lse_col = lse_row + bias, lse_col + bias
    else:
        lse_row, lse_col = BidirectionalLSE.apply(rows, cols, scale, bias, n, n, ids, ids, 0, tile)
    return clip_combine(lse_row, lse_col, image, text, rows, cols, scale, bias, label_smoothing, ids)


def clip_combine(
    lse_row, lse_col, img, txt, rows, cols, scale, bias, eps, ids, image_all=None, text_all=None, sel=None
):
    """Loss from the log-sum-exps plus the terms linear in the logits (positives, smoothing means).

    ``img``/``txt`` are the pairs whose losses are taken, ``rows``/``cols`` everything they were normalised
    over. Distributed local loss: ``image_all``/``text_all``/``ids`` are global and ``sel`` picks this rank's
    pairs in them.
    """
    pos = scale * (_up(img) * _up(txt)).sum(-1)
    if bias is not None:
        pos = pos + bias
    row_term = lse_row - (1 - eps) * pos
    col_term = lse_col - (1 - eps) * pos
    if eps > 0:
        image_all = img if image_all is None else image_all
        text_all = txt if text_all is None else text_all
        row_term = row_term - eps * _smooth_mean(img, cols, scale, bias, ids, text_all, sel)
        col_term = col_term - eps * _smooth_mean(txt, rows, scale, bias, ids, image_all, sel)
    return 0.5 * (row_term.mean() + col_term.mean())


def _smooth_mean(x, others, scale, bias, ids, paired_others, sel):
    """Mean of the unmasked logits of each row of ``x`` against ``others`` (the label-smoothing target)."""
    dots = _up(x) @ _up(others).sum(0)
    count = torch.full((x.shape[0],), float(others.shape[0]), device=x.device)
    if ids is not None:
        dup_sum, dup_cnt = _group_sums(ids, paired_others)
        if sel is not None:
            dup_sum, dup_cnt = dup_sum[sel], dup_cnt[sel]
        dots = dots - (_up(x) * dup_sum).sum(-1)
        count = count - dup_cnt
    mean = scale * dots / count
    return mean if bias is None else mean + bias


def naive_clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    text_negatives: torch.Tensor | None = None,
    image_negatives: torch.Tensor | None = None,
    pair_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference: the full N x N matrix, masked, with the smoothed cross-entropy written out."""
    n = image.shape[0]
    logits = scale * image @ text.t()
    if bias is not None:
        logits = logits + bias
    if pair_ids is not None:
        ids = torch.as_tensor(pair_ids, device=image.device)
        dup = (ids[:, None] == ids[None, :]) & ~torch.eye(n, dtype=torch.bool, device=image.device)
        logits = logits.masked_fill(dup, float("-inf"))
    row_logits, col_logits = logits, logits.t()
    if text_negatives is not None:
        extra = scale * image @ text_negatives.t() + (0 if bias is None else bias)
        row_logits = torch.cat([row_logits, extra], 1)
    if image_negatives is not None:
        extra = scale * text @ image_negatives.t() + (0 if bias is None else bias)
        col_logits = torch.cat([col_logits, extra], 1)

    def smoothed_ce(lg: torch.Tensor) -> torch.Tensor:
        lse = torch.logsumexp(lg, 1)
        pos = lg.diagonal()
        valid = torch.isfinite(lg)
        mean = torch.where(valid, lg, 0).sum(1) / valid.sum(1)
        return (lse - (1 - label_smoothing) * pos - label_smoothing * mean).mean()

    return 0.5 * (smoothed_ce(row_logits) + smoothed_ce(col_logits))


def siglip_loss_tiled(
    image: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    text_negatives: torch.Tensor | None = None,
    image_negatives: torch.Tensor | None = None,
    pair_ids: torch.Tensor | None = None,
    tile: tuple[int, int] | None = None,
    check_finite: bool = True,
) -> torch.Tensor:
    """Sigmoid loss (Zhai et al. 2023) without the N x N matrix; same-id pairs count as positives.

    Uses ``softplus(-x) = softplus(x) - x``: the tiled part is the plain softplus sum over every pair, the
    positives are subtracted in O(N * D).
    """
    n, rows, cols, ids, scale, tile = _assemble(
        image, text, scale, text_negatives, image_negatives, pair_ids, tile, check_finite
    )
    total = SoftplusSum.apply(rows, cols, scale, bias, n, n, tile)
    return (total - siglip_positive_sum(image, text, scale, bias, ids)) / n


def siglip_positive_sum(img, text_all, scale, bias, ids, sel=None):
    """Sum of the logits of the positive pairs of ``img`` (the partner, plus same-id texts when ``ids``).

    ``img`` row k is pair ``sel[k]`` of ``text_all``/``ids`` (all of them when ``sel`` is None).
    """
    img = _up(img)
    if ids is None:
        partner = _up(text_all) if sel is None else _up(text_all)[sel]
        dots, npos = (img * partner).sum(), img.shape[0]
    else:
        _, inv, counts = torch.unique(ids, return_inverse=True, return_counts=True)
        sums = torch.zeros(counts.shape[0], text_all.shape[1], device=img.device, dtype=img.dtype)
        sums.index_add_(0, inv, _up(text_all))
        inv = inv if sel is None else inv[sel]
        dots, npos = (img * sums[inv]).sum(), counts[inv].sum()
    pos = scale * dots
    return pos if bias is None else pos + bias * npos


def naive_siglip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    text_negatives: torch.Tensor | None = None,
    image_negatives: torch.Tensor | None = None,
    pair_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference: open_clip's SigLipLoss math (``-logsigmoid(labels * logits)``), full matrix."""
    n = image.shape[0]
    b = 0 if bias is None else bias
    logits = scale * image @ text.t() + b
    if pair_ids is None:
        labels = 2 * torch.eye(n, device=image.device) - 1
    else:
        ids = torch.as_tensor(pair_ids, device=image.device)
        labels = 2 * (ids[:, None] == ids[None, :]).float() - 1
    loss = -F.logsigmoid(labels * logits).sum()
    if text_negatives is not None:
        loss = loss - F.logsigmoid(-(scale * image @ text_negatives.t() + b)).sum()
    if image_negatives is not None:
        loss = loss - F.logsigmoid(-(scale * image_negatives @ text.t() + b)).sum()
    return loss / n


class _ContrastiveBase(nn.Module):
    """Learnable log-temperature (and bias), clamped in ``forward``; subclasses pick the loss.

    Options shared by both losses: ``max_logit_scale`` (None: no clamp), ``learnable`` (False freezes scale and
    bias), ``normalize`` (L2-normalise the features first), ``tile`` ((rows, cols) of the similarity tiles;
    default 256 x 1024 on CPU, 2048 x 8192 on GPU), ``check_finite`` (raise on NaN/inf features; one reduction
    and a host sync per call), ``distributed`` (None, ``"gather"`` or ``"local"``: see ``distributed.py``;
    ignored when torch.distributed is not initialised or has one rank) and ``group`` (the process group).
    """

    def __init__(
        self,
        init_logit_scale: float,
        *,
        init_logit_bias: float | None = None,
        max_logit_scale: float | None = MAX_LOGIT_SCALE,
        learnable: bool = True,
        normalize: bool = False,
        tile: tuple[int, int] | None = None,
        check_finite: bool = True,
        distributed: str | None = None,
        group=None,
    ) -> None:
        super().__init__()
        if distributed not in (None, "gather", "local"):
            raise ValueError(f"distributed must be None, 'gather' or 'local'; got {distributed!r}")
        if max_logit_scale is not None and max_logit_scale <= 0:
            raise ValueError(f"max_logit_scale must be > 0 or None; got {max_logit_scale}")
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)), requires_grad=learnable)
        self.logit_bias = (
            None
            if init_logit_bias is None
            else nn.Parameter(torch.tensor(float(init_logit_bias)), requires_grad=learnable)
        )
        self.max_logit_scale = max_logit_scale
        self.tile = None if tile is None else check_tile(tile)
        self.normalize = normalize
        self.check_finite = check_finite
        self.distributed = distributed
        self.group = group

    def scale_and_bias(self, logit_scale=None, logit_bias=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The clamped multiplier ``exp(min(t, log max))`` and the bias, from the arguments or the module."""
        t = self.logit_scale if logit_scale is None else torch.as_tensor(logit_scale)
        b = self.logit_bias if logit_bias is None else torch.as_tensor(logit_bias)
        return clamp_logit_scale(_up(t), self.max_logit_scale), (None if b is None else _up(b))

    def _loss_fn(self, distributed: bool):
        """(function, extra keyword arguments) computing this loss, single-process or distributed."""
        raise NotImplementedError

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        *,
        logit_scale: torch.Tensor | None = None,
        logit_bias: torch.Tensor | None = None,
        text_negatives: torch.Tensor | None = None,
        image_negatives: torch.Tensor | None = None,
        pair_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Loss for N pairs (row i of each is a pair).

        ``logit_scale`` (log space, e.g. ``CLIPModel.logit_scale``) / ``logit_bias`` override the module's own;
        ``text_negatives`` (K, D) / ``image_negatives`` (K', D) are extra hard negatives; ``pair_ids`` (N,)
        marks duplicate pairs (same id).
        """
        image, text = image_features, text_features
        if self.normalize:
            image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
        scale, bias = self.scale_and_bias(logit_scale, logit_bias)
        dist_kw = None
        if self.distributed is not None:
            from hf_addons.contrastive.distributed import world

            if world(self.group)[1] > 1:
                dist_kw = {"mode": self.distributed, "group": self.group}
        fn, extra = self._loss_fn(dist_kw is not None)
        return fn(
            image,
            text,
            scale.to(image.device),
            None if bias is None else bias.to(image.device),
            text_negatives=text_negatives,
            image_negatives=image_negatives,
            pair_ids=pair_ids,
            tile=self.tile,
            check_finite=self.check_finite,
            **extra,
            **(dist_kw or {}),
        )

    def as_trainer_loss(
        self, logit_scale: torch.Tensor | None = None, logit_bias: torch.Tensor | None = None
    ):
        """A ``Trainer(compute_loss_func=...)`` callable reading ``image_embeds`` / ``text_embeds``.

        Pass ``logit_scale=model.logit_scale`` to train a ``CLIPModel``'s own temperature (it is then clamped
        here, in the loss); without it the module's own parameter is used and must be given to the optimizer.
        """

        def compute_loss(outputs, labels=None, num_items_in_batch=None):
            return self(
                outputs.image_embeds, outputs.text_embeds, logit_scale=logit_scale, logit_bias=logit_bias
            )

        return compute_loss

    def extra_repr(self) -> str:
        return f"max_logit_scale={self.max_logit_scale}, normalize={self.normalize}, distributed={self.distributed}"


class ClipLoss(_ContrastiveBase):
    """Symmetric InfoNCE loss of CLIP, exact, with O(N) extra memory (never builds the N x N logits).

    The temperature is a log-parameter (init ``log(1/0.07)``) clamped in ``forward`` to ``max_logit_scale``
    (default 100, as CLIP/open_clip): beyond it the scale stays at the maximum, and gradients that would raise
    it further are dropped while those that lower it pass (so it never gets stuck, unlike ``torch.clamp``).
    ``init_logit_bias`` adds a learnable bias to every logit; for the softmax loss it cancels exactly (its
    gradient is 0 up to rounding) and exists for parity with SigLIP-style heads. ``label_smoothing`` as in
    ``F.cross_entropy``, spread over the classes that are not masked as duplicates. ``backend``: ``"auto"``,
    ``"torch"`` or ``"triton"`` (fused CUDA kernels for the plain loss; see ``clip_loss_tiled``).
    """

    def __init__(
        self,
        init_logit_scale: float = math.log(1 / 0.07),
        *,
        init_logit_bias: float | None = None,
        label_smoothing: float = 0.0,
        backend: str = "auto",
        **options,
    ) -> None:
        super().__init__(init_logit_scale, init_logit_bias=init_logit_bias, **options)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1); got {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.backend = check_backend(backend)

    def _loss_fn(self, distributed: bool):
        if distributed:  # the distributed modes run the PyTorch tiles (partial, masked log-sum-exps)
            from hf_addons.contrastive.distributed import distributed_clip_loss as fn

            return fn, {"label_smoothing": self.label_smoothing}
        return clip_loss_tiled, {"label_smoothing": self.label_smoothing, "backend": self.backend}


class SigLipLoss(_ContrastiveBase):
    """Sigmoid pairwise loss (SigLIP), exact, O(N) extra memory; init as the paper: scale 10, bias -10.

    Same-id pairs (``pair_ids``) count as positives. Summed over pairs and divided by N, as open_clip.
    """

    def __init__(
        self, init_logit_scale: float = math.log(10.0), *, init_logit_bias: float | None = -10.0, **options
    ) -> None:
        super().__init__(init_logit_scale, init_logit_bias=init_logit_bias, **options)

    def _loss_fn(self, distributed: bool):
        if distributed:
            from hf_addons.contrastive.distributed import distributed_siglip_loss as fn
        else:
            fn = siglip_loss_tiled
        return fn, {}
