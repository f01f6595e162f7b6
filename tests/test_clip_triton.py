"""Fused Triton CLIP kernels: same loss and gradients as the naive loss, the column guard, backend selection.

Without a GPU the kernels run under ``TRITON_INTERPRET=1`` (Triton's NumPy interpreter) on CPU tensors, small N;
the variable is set here, before the kernels module is first imported (``triton.jit`` reads it then). Skipped
when ``triton`` is not installed (CPU builds of torch do not bring it).
"""

from __future__ import annotations

import importlib.util
import math
import os

import pytest
import torch
from torch.nn import functional as F

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from hf_addons.contrastive import ClipLoss, clamp_logit_scale, clip_loss_tiled, naive_clip_loss  # noqa: E402
from hf_addons.contrastive.loss import resolve_backend  # noqa: E402

HAVE_TRITON = importlib.util.find_spec("triton") is not None
needs_triton = pytest.mark.skipif(not HAVE_TRITON, reason="triton is not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _pairs(n: int, d: int, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    txt = F.normalize(img + 0.8 * torch.randn(n, d, generator=g), dim=-1)
    log_scale = torch.tensor(math.log(1 / 0.07), device=DEVICE).requires_grad_()
    return img.to(DEVICE, dtype).requires_grad_(), txt.to(DEVICE, dtype).requires_grad_(), log_scale


def _run(fn, img, txt, log_scale, **kw):
    for t in (img, txt, log_scale):
        t.grad = None
    loss = fn(img, txt, clamp_logit_scale(log_scale), **kw)
    loss.backward()
    return loss.detach(), img.grad.clone(), txt.grad.clone(), log_scale.grad.clone()


def _triton(*a, **k):
    return clip_loss_tiled(*a, backend="triton", **k)


SMALL_BLOCKS = {"BM": 16, "BN": 16, "BK": 16, "BD": 16, "splits_cpu": 3}  # many blocks, D slices, col splits


def _use_blocks(monkeypatch, which: str) -> None:
    if which == "small":
        from hf_addons.contrastive import triton_kernels as tk

        for key, value in SMALL_BLOCKS.items():
            monkeypatch.setitem(tk.FWD_CONFIG, key, value)
            if key in tk.BWD_CONFIG:
                monkeypatch.setitem(tk.BWD_CONFIG, key, value)


@pytest.fixture(params=["default", "small"])
def blocks(request, monkeypatch):
    _use_blocks(monkeypatch, request.param)
    return request.param


@needs_triton
@pytest.mark.parametrize(
    "n,d,kw,which",
    [  # N and D not multiples of any block
        (97, 32, {}, "default"),
        (40, 70, {"bias": -2.0, "label_smoothing": 0.1}, "default"),
        (61, 40, {"bias": 1.0}, "small"),
    ],
    ids=["plain", "bias+smoothing", "small-blocks"],
)
def test_triton_matches_naive_fp32(n, d, kw, which, monkeypatch):
    _use_blocks(monkeypatch, which)
    img, txt, log_scale = _pairs(n, d)
    if "bias" in kw:
        kw = {**kw, "bias": torch.tensor(kw["bias"], device=DEVICE)}
    want = _run(naive_clip_loss, img, txt, log_scale, **kw)
    got = _run(_triton, img, txt, log_scale, **kw)
    for name, w, g in zip(("loss", "d_image", "d_text", "d_log_scale"), want, got, strict=True):
        assert torch.allclose(g, w, rtol=0, atol=1e-6), (name, float((g - w).abs().max()))


@needs_triton
def test_triton_bf16_close_to_fp64():
    """bf16 features: logits are exact products summed in fp32, so the loss is as close as the PyTorch tiles';
    feature gradients pass through a bf16 matmul and stay closer to fp64 than the naive bf16 loss's."""
    img, txt, log_scale = _pairs(97, 32, torch.bfloat16)
    ref = _run(naive_clip_loss, *(t.detach().double().requires_grad_() for t in (img, txt, log_scale)))
    got = _run(_triton, img, txt, log_scale)
    naive = _run(naive_clip_loss, img, txt, log_scale)
    assert abs(float(got[0]) - float(ref[0])) < 1e-5 < abs(float(naive[0]) - float(ref[0]))
    for g, nv, r in zip(got[1:3], naive[1:3], ref[1:3], strict=True):
        assert float((g.double() - r).abs().max()) < float((nv.double() - r).abs().max())
    assert abs(float(got[3]) - float(ref[3])) < 1e-5  # d scale from the fp32 tiles, not the bf16 matmul


@needs_triton
def test_column_guard_recomputes_exactly(blocks):
    """A huge-norm row makes the column bound loose; flagged columns are recomputed, all stay exact."""
    from hf_addons.contrastive.triton_kernels import _SMALL_COL_SUM, bidirectional_lse

    g = torch.Generator().manual_seed(1)
    v = F.normalize(torch.randn(32, generator=g), dim=0)
    x = F.normalize(torch.randn(70, 32, generator=g), dim=-1)
    x[0] = 100 * v
    y = F.normalize(torch.randn(50, 32, generator=g) + 3 * torch.rand(50, 1, generator=g) * v, dim=-1)
    scale = torch.tensor(1.0)
    logits = x.double() @ y.double().t()
    bound = x.norm(dim=1).max().double() * y.norm(dim=1).double()
    flagged = (logits - bound).exp().sum(0) < _SMALL_COL_SUM
    assert 0 < int(flagged.sum()) < 50  # both paths are exercised
    lse_x, lse_y = bidirectional_lse(x.to(DEVICE), y.to(DEVICE), scale.to(DEVICE))
    assert torch.allclose(lse_x.cpu().double(), logits.logsumexp(1), rtol=1e-6, atol=1e-5)
    assert torch.allclose(lse_y.cpu().double(), logits.logsumexp(0), rtol=1e-6, atol=1e-5)


@needs_triton
def test_cliploss_module_triton_backend():
    img, txt, log_scale = _pairs(64, 16)
    loss_fn = ClipLoss(backend="triton")
    want = ClipLoss(backend="torch")(img, txt)
    assert torch.allclose(loss_fn(img, txt), want, atol=1e-6)


def test_backend_selection_and_errors(monkeypatch):
    img, txt, _ = _pairs(8, 16)
    scale = torch.tensor(10.0, device=DEVICE)
    assert resolve_backend("auto", img, txt, plain=True) == "torch"  # not measured to pay yet
    with pytest.raises(ValueError, match="backend must be one of"):
        clip_loss_tiled(img, txt, scale, backend="cuda")
    with pytest.raises(ValueError, match="backend must be one of"):
        ClipLoss(backend="fused")
    if HAVE_TRITON:  # the fused path has no duplicate masking: asking for it with pair_ids is an error
        with pytest.raises(ValueError, match="pair_ids"):
            clip_loss_tiled(img, txt, scale, pair_ids=torch.arange(8) % 4, backend="triton")
    if DEVICE == "cpu":  # without the interpreter (or without triton), CPU tensors cannot take the fused path
        monkeypatch.setenv("TRITON_INTERPRET", "0")
        with pytest.raises(ValueError, match="backend='triton' cannot run here"):
            clip_loss_tiled(img, txt, scale, backend="triton")
    if HAVE_TRITON:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        with pytest.raises(ValueError, match="float32, bfloat16 or float16"):
            clip_loss_tiled(img.double(), txt.double(), scale, backend="triton")


@needs_triton
@pytest.mark.slow
def test_kernels_compile_for_hopper():
    """The real compiler (not the interpreter) builds every kernel for sm_90 with the checked-in launch shapes;
    no GPU needed (Triton's bundled ptxas). A fresh process: this one has TRITON_INTERPRET set."""
    import json
    import subprocess
    import sys

    code = (
        "import json; from hf_addons.contrastive.triton_kernels import compile_check; "
        "print(json.dumps(compile_check(90, 'bf16')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kernels = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [k["kernel"] for k in kernels] == ["lse_fwd", "lse_fwd", "lse_bwd"]
    assert all("REG:" in k["usage"] for k in kernels)
