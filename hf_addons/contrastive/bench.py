"""Side-by-side measurement of our loss against the anchors (shared by ``hf-addons clip bench`` and benchmarks/).

Anchors, loss forward + backward only:

* ``open_clip``: the installed open_clip's own ``ClipLoss`` (``open_clip/loss.py``, loaded from its file so the
  package's torchvision-dependent ``__init__`` is not needed: ``pip install --no-deps open_clip_torch``). Without
  open_clip installed, its ``ClipLoss`` math reproduced line for line (``OPEN_CLIP_REAL`` says which ran).
* ``transformers``: the installed transformers' own CLIP loss function, on ``logit_scale * text @ image.T`` as
  ``CLIPModel.forward`` builds it.

Ours: ``ours`` is the PyTorch tiles (``backend="torch"``), ``ours_triton`` the fused Triton kernels (CUDA, or
CPU under ``TRITON_INTERPRET=1`` for a smoke run).

Peak extra memory: on CUDA ``torch.cuda.max_memory_allocated`` above the inputs. On CPU (the allocator keeps no
statistics) a fresh process per (method, N) creates the inputs, resets the kernel's resident-set high-water mark
(``echo 5 > /proc/self/clear_refs``), runs one forward+backward and reports ``VmHWM - VmRSS(before)``: the
resident memory the loss added at its peak, gradients of the inputs included (the same for every method).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import torch
from torch.nn import functional as F

from hf_addons.contrastive.loss import clip_loss_tiled

METHODS = ("ours", "open_clip", "transformers")


def _real_open_clip_loss():
    """open_clip's ``ClipLoss`` class from the installed package's ``loss.py``, or None when not installed."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "loss.py"
    mod_spec = importlib.util.spec_from_file_location("_open_clip_loss", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module.ClipLoss


_OPEN_CLIP = _real_open_clip_loss()
OPEN_CLIP_REAL = _OPEN_CLIP is not None


def open_clip_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """open_clip's ``ClipLoss()(image, text, scale)`` (world size 1); its math reproduced when not installed."""
    if _OPEN_CLIP is not None:
        return _OPEN_CLIP()(image, text, scale)
    return naive_open_clip_math(image, text, scale)


def naive_open_clip_math(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """open_clip ``ClipLoss.forward`` (src/open_clip/loss.py, world_size 1), reproduced line for line."""
    logits_per_image = scale * image @ text.T
    logits_per_text = scale * text @ image.T
    labels = torch.arange(logits_per_image.shape[0], device=image.device, dtype=torch.long)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


def transformers_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The installed transformers' CLIP loss (``image_text_contrastive_loss``; ``clip_loss`` before 5.x)."""
    from transformers.models.clip import modeling_clip

    fn = getattr(modeling_clip, "image_text_contrastive_loss", None) or modeling_clip.clip_loss
    return fn(scale * text @ image.t())


def ours_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return clip_loss_tiled(image, text, scale, check_finite=False, backend="torch")


def ours_triton_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return clip_loss_tiled(image, text, scale, check_finite=False, backend="triton")


LOSSES = {
    "ours": ours_loss,
    "ours_triton": ours_triton_loss,
    "open_clip": open_clip_loss,
    "transformers": transformers_loss,
}


def make_inputs(n: int, dim: int, dtype: torch.dtype, device: str, seed: int = 0):
    """Normalised features with some pair signal, as leaves, and the scale 1/0.07 as a leaf."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    img = F.normalize(torch.randn(n, dim, generator=g), dim=-1)
    txt = F.normalize(img + torch.randn(n, dim, generator=g), dim=-1)
    img, txt = (t.to(device=device, dtype=dtype).requires_grad_() for t in (img, txt))
    scale = torch.tensor(1 / 0.07, device=device).requires_grad_()
    return img, txt, scale


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_fwd_bwd(method: str, inputs, repeats: int = 3, warmup: int = 1) -> float:
    """Best wall seconds of ``repeats`` forward+backward passes (after ``warmup`` untimed ones)."""
    fn, device = LOSSES[method], str(inputs[0].device)
    best = math.inf
    for i in range(warmup + repeats):
        for t in inputs:
            t.grad = None
        _sync(device)
        t0 = time.perf_counter()
        fn(*inputs).backward()
        _sync(device)
        if i >= warmup:
            best = min(best, time.perf_counter() - t0)
    return best


def peak_extra_gib_cuda(method: str, inputs) -> float:
    """Peak CUDA memory above what the inputs already hold, for one forward+backward."""
    for t in inputs:
        t.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    LOSSES[method](*inputs).backward()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**30


def _status_gib(key: str) -> float:
    for line in open("/proc/self/status").read().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 2**20  # kB
    raise RuntimeError(f"/proc/self/status has no {key}")


def peak_extra_gib_cpu(method: str, n: int, dim: int, dtype: str = "float32", threads: int = 1) -> float:
    """Peak RSS growth of a fresh process running one forward+backward (see the module docstring)."""
    code = (
        "import sys, json; from hf_addons.contrastive.bench import _rss_child; "
        f"print(json.dumps(_rss_child({method!r}, {n}, {dim}, {dtype!r}, {threads})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe for {method} at N={n} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rss_child(method: str, n: int, dim: int, dtype: str, threads: int) -> float:
    torch.set_num_threads(threads)
    small = make_inputs(64, dim, getattr(torch, dtype), "cpu")
    LOSSES[method](*small).backward()  # load kernels, thread pools and modules before the baseline
    inputs = make_inputs(n, dim, getattr(torch, dtype), "cpu")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # high-water mark := current RSS
    base = _status_gib("VmRSS")
    LOSSES[method](*inputs).backward()
    return _status_gib("VmHWM") - base


def max_abs_diffs(
    n: int = 1024,
    dim: int = 128,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    device: str = "cpu",
    methods: tuple[str, ...] = ("ours", "open_clip"),
) -> dict:
    """Loss and gradient differences of each method in ``dtype`` vs the naive loss in fp64 (same device)."""
    ref_inputs = make_inputs(n, dim, torch.float64, device, seed)
    ref = _loss_grads(naive_open_clip_math, ref_inputs)
    out = {}
    for method in methods:
        got = _loss_grads(LOSSES[method], make_inputs(n, dim, dtype, device, seed))
        out[method] = {key: float((got[key].double() - ref[key]).abs().max()) for key in ref}
    return out


def _loss_grads(fn, inputs) -> dict:
    loss = fn(*inputs)
    loss.backward()
    return {
        "loss": loss.detach(),
        "d_image": inputs[0].grad,
        "d_text": inputs[1].grad,
        "d_scale": inputs[2].grad,
    }
