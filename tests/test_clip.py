"""CLIP / SigLIP loss: exact vs the naive full-matrix loss, never N x N, clamp, bad input, CLIPModel drop-in."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from hf_addons.contrastive import (
    ClipLoss,
    SigLipLoss,
    clamp_logit_scale,
    clip_loss_tiled,
    naive_clip_loss,
    naive_siglip_loss,
    siglip_loss_tiled,
)

N, D = 97, 32
OPTIONS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.1},
    "bias": {"bias": -2.0},
    "text_negatives": {"text_negatives": 13},
    "image_negatives": {"image_negatives": 7},
    "duplicates": {"pair_ids": True},
    "everything": {
        "label_smoothing": 0.2,
        "bias": 1.0,
        "text_negatives": 5,
        "image_negatives": 9,
        "pair_ids": True,
    },
}


def _inputs(opts: dict, n: int = N, d: int = D, dtype=torch.float32, seed: int = 0):
    """Normalised features with a little signal, the log-temperature and bias as leaves, and the options."""
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    txt = F.normalize(img + 0.8 * torch.randn(n, d, generator=g), dim=-1)
    leaves = {"image": img.to(dtype), "text": txt.to(dtype), "log_scale": torch.tensor(math.log(1 / 0.07))}
    if "bias" in opts:
        leaves["bias"] = torch.tensor(float(opts["bias"]))
    for key in ("text_negatives", "image_negatives"):
        if key in opts:
            leaves[key] = F.normalize(torch.randn(opts[key], d, generator=g), dim=-1).to(dtype)
    kwargs = {}
    if opts.get("pair_ids"):
        kwargs["pair_ids"] = torch.randint(0, n // 2, (n,), generator=g)  # many duplicate groups
    if "label_smoothing" in opts:
        kwargs["label_smoothing"] = opts["label_smoothing"]
    return {k: v.requires_grad_() for k, v in leaves.items()}, kwargs


def _loss_and_grads(fn, leaves: dict, kwargs: dict):
    for v in leaves.values():
        v.grad = None
    extra = {k: leaves[k] for k in ("text_negatives", "image_negatives") if k in leaves}
    loss = fn(
        leaves["image"],
        leaves["text"],
        clamp_logit_scale(leaves["log_scale"]),
        leaves.get("bias"),
        **extra,
        **kwargs,
    )
    loss.backward()
    return loss.detach(), {k: v.grad.clone() for k, v in leaves.items()}


def _tiled(fn, tile):
    return lambda *a, **k: fn(*a, tile=tile, **k)


@pytest.mark.parametrize("name", list(OPTIONS))
@pytest.mark.parametrize("tile", [(8, 16), (1024, 1024)])  # many tiles (none aligned with N=97) and one
def test_clip_matches_naive_fp32(name, tile):
    leaves, kwargs = _inputs(OPTIONS[name])
    ref, ref_g = _loss_and_grads(naive_clip_loss, leaves, kwargs)
    out, out_g = _loss_and_grads(_tiled(clip_loss_tiled, tile), leaves, kwargs)
    assert torch.isfinite(ref) and ref > 0.5
    assert (out - ref).abs() <= 1e-6, (out, ref)
    for key in ref_g:
        assert (out_g[key] - ref_g[key]).abs().max() <= 1e-6, key
    assert ref_g["log_scale"].abs() > 1e-3  # the temperature gradient is really compared


@pytest.mark.parametrize("name", [k for k in OPTIONS if k != "smoothing"])
@pytest.mark.parametrize("tile", [(8, 16), (1024, 1024)])
def test_siglip_matches_naive_fp32(name, tile):
    opts = dict(OPTIONS[name])
    opts.setdefault("bias", -10.0)
    leaves, kwargs = _inputs(opts)
    kwargs.pop("label_smoothing", None)
    ref, ref_g = _loss_and_grads(naive_siglip_loss, leaves, kwargs)
    out, out_g = _loss_and_grads(_tiled(siglip_loss_tiled, tile), leaves, kwargs)
    # the loss and the scale/bias gradients are sums over N^2 pairs (|value| up to ~70): 1e-6 relative there
    assert (out - ref).abs() <= 1e-6 * max(1.0, ref.abs()), (out, ref)
    for key in ref_g:
        assert (out_g[key] - ref_g[key]).abs().max() <= 1e-6 * max(1.0, ref_g[key].abs().max()), key


def test_matches_transformers_and_cross_entropy_anchors():
    """Plain loss == transformers' CLIP loss; label smoothing == F.cross_entropy's (open_clip's math)."""
    from transformers.models.clip import modeling_clip

    leaves, _ = _inputs({})
    img, txt, scale = (
        leaves["image"].detach(),
        leaves["text"].detach(),
        clamp_logit_scale(leaves["log_scale"]),
    )
    logits = scale * img @ txt.t()
    anchor = modeling_clip.image_text_contrastive_loss(logits.t())
    assert (ClipLoss()(img, txt) - anchor).abs() <= 1e-6
    labels = torch.arange(N)
    smoothed = (
        F.cross_entropy(logits, labels, label_smoothing=0.3)
        + F.cross_entropy(logits.t(), labels, label_smoothing=0.3)
    ) / 2
    assert (ClipLoss(label_smoothing=0.3)(img, txt) - smoothed).abs() <= 1e-6


def test_bf16_error_is_bounded():
    leaves, _ = _inputs({}, n=256, d=64)
    img, txt = leaves["image"].detach(), leaves["text"].detach()
    scale = clamp_logit_scale(torch.tensor(math.log(100.0)))
    ref = naive_clip_loss(img.double(), txt.double(), scale.double())
    ours = clip_loss_tiled(img.bfloat16(), txt.bfloat16(), scale, tile=(64, 64))
    naive_bf16 = naive_clip_loss(img.bfloat16(), txt.bfloat16(), scale.bfloat16())
    # where bf16 matmuls are native (CUDA, AMX CPUs) ours rounds each dot product to bf16 before scaling; the
    # naive loss rounds the scaled logit (up to 100) too
    assert (ours.double() - ref).abs() < 0.02
    assert (ours.double() - ref).abs() <= (naive_bf16.double() - ref).abs() + 1e-3


def test_bf16_exact_mode_keeps_fp32_logits(monkeypatch):
    """HF_ADDONS_CLIP_EXACT_BF16=1 (and CPUs without native bf16): only the inputs are rounded."""
    from hf_addons.contrastive import tiled

    leaves, _ = _inputs({}, n=256, d=64)
    img, txt = leaves["image"].detach(), leaves["text"].detach()
    scale = clamp_logit_scale(torch.tensor(math.log(100.0)))
    monkeypatch.setenv("HF_ADDONS_CLIP_EXACT_BF16", "1")
    assert not tiled.low_precision_matmul(torch.device("cpu"))
    exact = clip_loss_tiled(img.bfloat16(), txt.bfloat16(), scale, tile=(64, 64))
    upcast = naive_clip_loss(img.bfloat16().double(), txt.bfloat16().double(), scale.double())
    assert (exact.double() - upcast).abs() < 1e-5


class _MaxNumel(TorchDispatchMode):
    """Records the largest tensor any aten op produces: a real check that no N x N buffer exists."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("loss_cls", [ClipLoss, SigLipLoss])
def test_never_materialises_n_by_n(loss_cls, monkeypatch):
    from hf_addons.contrastive import tiled

    monkeypatch.setattr(
        tiled, "KEEP_LOGITS", 0
    )  # above the small-batch size that keeps them for the backward
    n, d = 512, 8
    img = F.normalize(torch.randn(n, d), dim=-1).requires_grad_()
    txt = F.normalize(torch.randn(n, d), dim=-1).requires_grad_()
    loss = loss_cls(tile=(32, 256))
    with _MaxNumel() as seen:
        loss(img, txt, pair_ids=torch.arange(n) // 2).backward()
    assert seen.largest <= max(32 * 256, n * d) < n * n // 16, seen.largest
    with _MaxNumel() as naive_seen:
        naive_clip_loss(img, txt, torch.tensor(10.0)).backward()
    assert naive_seen.largest >= n * n  # the probe does see a full matrix when there is one


class _CountMatmuls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += func in (torch.ops.aten.mm.default, torch.ops.aten.mm.dtype)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", list(OPTIONS))
def test_small_batches_keep_the_logits_for_the_backward(name, monkeypatch):
    """Up to KEEP_LOGITS logits the forward's tiles serve the backward: the same gradients to the bit, one
    matmul per tile fewer (3 instead of 4); above it they are recomputed."""
    from hf_addons.contrastive import tiled

    leaves, kwargs = _inputs(OPTIONS[name])
    fn = _tiled(clip_loss_tiled, (8, 16))
    with _CountMatmuls() as kept_mm:
        kept, kept_g = _loss_and_grads(fn, leaves, kwargs)
    monkeypatch.setattr(tiled, "KEEP_LOGITS", 0)
    with _CountMatmuls() as again_mm:
        again, again_g = _loss_and_grads(fn, leaves, kwargs)
    assert torch.equal(kept, again) and all(torch.equal(kept_g[k], again_g[k]) for k in kept_g)
    tiles = again_mm.calls - kept_mm.calls
    assert tiles > 0 and kept_mm.calls >= 3 * tiles  # one matmul fewer per tile of the 4


def test_logit_scale_clamp_is_one_sided():
    img = F.normalize(torch.randn(64, 3), dim=-1)  # 3-D: close neighbours keep the loss well above 0 at s=100
    over = ClipLoss(init_logit_scale=math.log(500.0))
    at_max = naive_clip_loss(img, img, torch.tensor(100.0))
    loss = over(img, img)
    # forward uses exp(log(100)) = 100 (at logits ~100, fp32 resolves ~1e-5: lse and positive nearly cancel)
    assert (loss - at_max).abs() <= 2e-5 and (
        loss - naive_clip_loss(img, img, torch.tensor(120.0))
    ).abs() > 1e-4
    loss.backward()
    # aligned pairs: a larger scale would lower the loss (d/dt < 0): that push is dropped at the clamp
    assert over.logit_scale.grad == 0
    over.logit_scale.grad = None
    txt = F.normalize(torch.randn(64, 3), dim=-1)
    shuffled = over(img, txt[torch.randperm(64)])
    shuffled.backward()
    # wrong pairs: a smaller scale lowers the loss (d/dt > 0): it passes, so the temperature can come back down
    assert over.logit_scale.grad > 0
    none = ClipLoss(init_logit_scale=math.log(500.0), max_logit_scale=None)
    assert (none(img, img) - naive_clip_loss(img, img, torch.tensor(500.0))).abs() <= 1e-5


def test_logit_bias_cancels_in_softmax():
    img, txt = F.normalize(torch.randn(32, 8), dim=-1), F.normalize(torch.randn(32, 8), dim=-1)
    loss = ClipLoss(init_logit_bias=3.0)
    value = loss(img, txt)
    value.backward()
    assert (value - ClipLoss()(img, txt)).abs() <= 1e-5 and loss.logit_bias.grad.abs() <= 1e-6


def test_duplicates_are_not_negatives():
    """Two identical captions: masking them makes the loss equal to a batch where they never met."""
    img = F.normalize(torch.randn(6, 8), dim=-1)
    txt = img.clone()
    txt[1] = txt[0]
    ids = torch.tensor([0, 0, 1, 2, 3, 4])
    masked = ClipLoss(init_logit_scale=math.log(100.0))(img, txt, pair_ids=ids)
    unmasked = ClipLoss(init_logit_scale=math.log(100.0))(img, txt)
    assert masked < unmasked - 0.1
    assert (masked - naive_clip_loss(img, txt, torch.tensor(100.0), pair_ids=ids)).abs() <= 2e-5


def test_normalize_option_and_module_scale_learns():
    img, txt = torch.randn(16, 8) * 5, torch.randn(16, 8) * 5
    loss = ClipLoss(normalize=True)
    ref = naive_clip_loss(F.normalize(img, dim=-1), F.normalize(txt, dim=-1), torch.tensor(1 / 0.07))
    value = loss(img, txt)
    assert (value - ref).abs() <= 1e-5
    value.backward()
    assert loss.logit_scale.grad is not None and loss.logit_scale.grad != 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_features": torch.randn(4, 8), "text_features": torch.randn(5, 8)}, "same .batch, dim."),
        ({"image_features": torch.randn(4, 8), "text_features": torch.randn(4, 6)}, "same .batch, dim."),
        ({"image_features": torch.randn(8), "text_features": torch.randn(8)}, "must be 2-D"),
        ({"image_features": torch.randn(0, 8), "text_features": torch.randn(0, 8)}, "empty batch"),
        (
            {"image_features": torch.tensor([[float("nan"), 1.0]]), "text_features": torch.ones(1, 2)},
            "non-finite",
        ),
        (
            {
                "image_features": torch.randn(4, 8),
                "text_features": torch.randn(4, 8),
                "pair_ids": torch.zeros(3),
            },
            r"pair_ids must have shape \(4,\)",
        ),
        (
            {
                "image_features": torch.randn(4, 8),
                "text_features": torch.randn(4, 8),
                "text_negatives": torch.randn(2, 7),
            },
            r"text_negatives must be \(K, 8\)",
        ),
    ],
)
@pytest.mark.parametrize("loss_cls", [ClipLoss, SigLipLoss])
def test_bad_input_errors(loss_cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        loss_cls()(**kwargs)


def test_bad_config_errors():
    with pytest.raises(ValueError, match="label_smoothing"):
        ClipLoss(label_smoothing=1.0)
    with pytest.raises(ValueError, match="distributed must be"):
        ClipLoss(distributed="ring")
    with pytest.raises(ValueError, match="max_logit_scale"):
        SigLipLoss(max_logit_scale=0)


def test_drop_in_for_clip_model():
    """CLIPModel's own loss == ClipLoss on its embeddings with its logit_scale, value and gradients."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 99,
            "max_position_embeddings": 16,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 16,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    model = CLIPModel(config)
    batch = {"input_ids": torch.randint(0, 99, (12, 8)), "pixel_values": torch.randn(12, 3, 16, 16)}
    out = model(**batch, return_loss=True)
    out.loss.backward()
    ref_grad = model.logit_scale.grad.clone()
    model.zero_grad()
    compute = ClipLoss().as_trainer_loss(logit_scale=model.logit_scale)
    ours = compute(model(**batch))
    ours.backward()
    assert (ours - out.loss).abs() <= 1e-6
    assert (model.logit_scale.grad - ref_grad).abs() <= 1e-6


def test_cli_check_and_bench(capsys):
    import json

    from hf_addons import cli

    assert cli.main(["clip", "check", "--n", "64", "--dim", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and len(report["rows"]) == 36
    fp32 = [r for r in report["rows"] if r["dtype"] == "float32"]
    assert all(r["ok"] for r in fp32)
    assert max(r["ours_vs_naive"] for r in fp32 if r["value"] in ("d_image", "d_text")) < 1e-6
    assert cli.main(["clip", "bench", "--n", "128", "--dim", "16", "--repeats", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "N=128" in out and "open_clip:" in out and "x ours" in out
    assert cli.main(["clip", "check", "--n", "1"]) == 2
    assert "--n must be >= 2" in capsys.readouterr().err


def test_fully_masked_partial_column_has_finite_gradient():
    """In the local distributed mode a rank may see a column only through masked duplicates: lse -inf, grad 0."""
    from hf_addons.contrastive.tiled import BidirectionalLSE

    rows = torch.randn(2, 4, requires_grad=True)
    cols = torch.randn(4, 4, requires_grad=True)
    ids_rows, ids_cols = torch.tensor([0, 0]), torch.tensor([0, 0, 0, 1])  # column 2: duplicate of both rows
    scale = torch.tensor(3.0, requires_grad=True)
    lse_row, lse_col = BidirectionalLSE.apply(rows, cols, scale, None, 2, 4, ids_rows, ids_cols, 0, (1, 2))
    assert lse_col[2] == float("-inf") and torch.isfinite(lse_col[[0, 1, 3]]).all()
    (lse_row.sum() + lse_col[[0, 1, 3]].sum() + 0.0 * lse_col[2]).backward()
    assert torch.isfinite(rows.grad).all() and torch.isfinite(cols.grad).all() and torch.isfinite(scale.grad)
    assert (cols.grad[2] == 0).all()
