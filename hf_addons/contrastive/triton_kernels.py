"""Fused Triton kernels for the CLIP loss: both log-sum-exps of ``scale * X @ Y.T`` in one pass, and their gradient.

The pure-PyTorch tiles (``tiled.py``) write every fp32 logits tile to memory and read it back several times
(scale, log-sum-exp per direction, and in backward exp, multiply, add, cast); here a tile lives in registers
from the matmul to the reduction, so the N x N work is matmuls plus exponentials and nothing else.

Forward (one launch, grid over row blocks x column splits; the splits fill the GPU at small N and their row
results are merged by a log-sum-exp over a (splits, N) array): each program streams its column blocks of
``Y``, forms the logits tile with ``tl.dot``, keeps its rows' log-sum-exp online (running max and sum, exact)
and adds the tile's column sums ``sum_i exp(l_ij - u_j)`` into a global N-vector with atomics. The column stabiliser ``u_j`` is
the bound ``|scale| * max_i |x_i| * |y_j|`` (no logit can exceed it, so nothing overflows); a column whose sum
falls below 1e-30 (all its logits more than ~69 below the bound, where fp32 would start losing digits) is
recomputed exactly by a second launch of the same kernel on ``(Y, X)``, whose programs exit at once for blocks
with no such column. So the result is exact in every case, and the common case costs one pass.

Backward: ``d logits = g_x[i] exp(l_ij - lse_x[i]) + g_y[j] exp(l_ij - lse_y[j])`` is symmetric in (X, Y), so
one kernel gives ``dX = scale * dL @ Y`` (grid over row blocks and slices of D; accumulated in fp32 registers
over all of N and written once in the features' dtype, so no fp32 N x D buffer) and, on swapped operands,
``dY = scale * dL.T @ X``; each recomputes its logits tiles. ``d scale = sum(dL * x_i.y_j)`` (logits are
linear in the scale), summed in fp32 in the same kernel.

Runs on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests check exactness without a
GPU). Only the plain loss is fused (no duplicate masking, no extra negatives): ``clip_loss_tiled`` sends those
to the PyTorch tiles.
"""

from __future__ import annotations

import importlib.util
import os

import torch

_SUPPORTED = (torch.float32, torch.bfloat16, torch.float16)
_SMALL_COL_SUM = 1e-30  # below this a column's sum is recomputed exactly (fp32 normals end near 1e-38)

# Launch shapes. Not timed on a GPU yet (none was lent when this was written); chosen so that compile_check()
# (sm_90, bf16) shows no register spills: fwd 250 registers, bwd 254, spill stack 0 (bwd with BN=64 spilled 56
# bytes). benchmarks/bench_clip_gpu.py sweeps a few alternatives and records the fastest; change them here
# after measuring.
# "waves": programs per SM the column splits aim for; "splits_cpu": splits under the interpreter (tests).
FWD_CONFIG = {"BM": 128, "BN": 64, "BK": 64, "num_warps": 8, "num_stages": 2, "waves": 2, "max_splits": 16}
BWD_CONFIG = {"BM": 64, "BN": 32, "BK": 64, "BD": 256, "num_warps": 8, "num_stages": 2}


def triton_available() -> bool:
    """True when the ``triton`` package can be imported (it ships with CUDA builds of torch, not CPU ones)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """True under ``TRITON_INTERPRET=1``: kernels run in Python (NumPy) on CPU tensors; slow, for tests."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() not in ("", "0", "false", "no")


def unsupported_reason(*tensors: torch.Tensor) -> str | None:
    """Why the fused kernels cannot run on these tensors here, or None when they can."""
    if not triton_available():
        return "triton is not installed (it comes with CUDA builds of torch: pip install triton)"
    for t in tensors:
        if t.dtype not in _SUPPORTED:
            return f"dtype {t.dtype} is not supported (float32, bfloat16 or float16)"
        if not (t.is_cuda or (t.device.type == "cpu" and interpreting())):
            return f"tensors are on {t.device}; the kernels need CUDA (or TRITON_INTERPRET=1 on CPU)"
    return None


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x) - 1).bit_length()


if triton_available():  # kernels are module globals (jitted functions resolve callees through globals)
    import triton
    import triton.language as tl
else:  # pragma: no cover - the functions below are only reached after unsupported_reason() said None
    triton = tl = None


def _jit(fn):
    return fn if triton is None else triton.jit(fn)


@_jit
def _dots(X, Y, xr, yc, D, sx, sy, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
          EVEN_K: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr):  # fmt: skip
    """``X[xr] @ Y[yc].T`` in fp32; ``xr``/``yc`` are in-range row indices (callers wrap the tail of a block)."""
    acc = tl.zeros([BM, BN], dtype=tl.float32)
    for k0 in range(0, D, BK):
        ks = k0 + tl.arange(0, BK)
        if EVEN_K:
            a = tl.load(X + xr[:, None] * sx + ks[None, :])
            b = tl.load(Y + yc[:, None] * sy + ks[None, :])
        else:
            a = tl.load(X + xr[:, None] * sx + ks[None, :], mask=ks[None, :] < D, other=0.0)
            b = tl.load(Y + yc[:, None] * sy + ks[None, :], mask=ks[None, :] < D, other=0.0)
        if UPCAST:  # the interpreter's bf16 dot is wrong; bf16 products are exact in fp32, so same numbers
            a, b = a.to(tl.float32), b.to(tl.float32)
        acc = tl.dot(a, tl.trans(b), acc, input_precision=PREC)
    return acc


@_jit
def _index(start, n, B: tl.constexpr, BIG: tl.constexpr):
    """Indices ``start .. start+B``, their in-range mask, and the same wrapped into [0, n) for loads."""
    idx = start + tl.arange(0, B)
    if BIG:  # offsets idx * stride past 2**31
        idx = idx.to(tl.int64)
    return idx, idx < n, idx % n


@_jit
def lse_fwd(X, Y, SCALE, U, LSE_X, SUM_Y, FLAG, n_x, n_y, D, sx, sy, chunk, BM: tl.constexpr, BN: tl.constexpr,
            BK: tl.constexpr, EVEN_K: tl.constexpr, BIG: tl.constexpr, COLS: tl.constexpr,
            ONLY_FLAGGED: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr):  # fmt: skip
    """Row log-sum-exp of ``scale * X @ Y.T`` over columns [split * chunk, +chunk) (online, exact), stored in
    ``LSE_X[split]``; with COLS, each column's ``sum_i exp(l_ij - U_j)`` is added to ``SUM_Y``."""
    rows, rmask, xr = _index(tl.program_id(0) * BM, n_x, BM, BIG)
    smask = rmask
    c_start = tl.program_id(1) * chunk
    c_stop = tl.minimum(c_start + chunk, n_y)
    n_end = c_stop
    if ONLY_FLAGGED:  # recompute pass: only the rows flagged by the fused pass; other blocks skip the loop
        flag = tl.load(FLAG + rows, mask=rmask, other=0)
        smask = rmask & (flag != 0)
        n_end = c_start + (c_stop - c_start) * (tl.max(flag, 0) != 0).to(tl.int32)
    scale = tl.load(SCALE)
    m_i = tl.full([BM], float("-inf"), dtype=tl.float32)
    s_i = tl.zeros([BM], dtype=tl.float32)
    for c0 in range(c_start, n_end, BN):
        cols, _, yc = _index(c0, n_y, BN, BIG)
        cmask = cols < c_stop
        lg = _dots(X, Y, xr, yc, D, sx, sy, BM, BN, BK, EVEN_K, PREC, UPCAST) * scale
        lr = tl.where(cmask[None, :], lg, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(lr, 1))
        s_i = s_i * tl.exp(m_i - m_new) + tl.sum(tl.exp(lr - m_new[:, None]), 1)
        m_i = m_new
        if COLS:
            u = tl.load(U + yc)
            p = tl.where(rmask[:, None], tl.exp(lg - u[None, :]), 0.0)
            tl.atomic_add(SUM_Y + yc, tl.sum(p, 0), mask=cmask)
    # an empty range (skipped block) gives m = -inf, s = 0: store -inf without log(0) warnings
    lse = tl.where(s_i > 0, m_i + tl.log(tl.where(s_i > 0, s_i, 1.0)), float("-inf"))
    tl.store(LSE_X + tl.program_id(1) * n_x + rows, lse, mask=smask)


@_jit
def lse_bwd(X, Y, SCALE, LSE_X, LSE_Y, G_X, G_Y, DX, DS, n_x, n_y, D, sx, sy, sdx, BM: tl.constexpr,
            BN: tl.constexpr, BK: tl.constexpr, BD: tl.constexpr, EVEN_K: tl.constexpr, BIG: tl.constexpr,
            PREC: tl.constexpr, UPCAST: tl.constexpr):  # fmt: skip
    """``DX[:, slice] = scale * dL @ Y[:, slice]`` (``dL`` recomputed tile by tile); ``DS[i] = sum_j dL x.y``.

    ``DS`` (for d scale) is summed from the fp32 ``dL`` and logits: from the bf16 ``dL`` fed to the matmul it
    would carry bf16 rounding summed over N^2 terms (~1e-2 at N=97, measured)."""
    rows, rmask, xr = _index(tl.program_id(0) * BM, n_x, BM, BIG)
    ds = tl.program_id(1) * BD + tl.arange(0, BD)
    dmask = ds < D
    scale = tl.load(SCALE)
    lse_x = tl.load(LSE_X + xr)
    g_x = tl.where(rmask, tl.load(G_X + xr), 0.0)  # rows past n_x contribute nothing
    out = tl.zeros([BM, BD], dtype=tl.float32)
    ds_acc = tl.zeros([BM], dtype=tl.float32)
    for c0 in range(0, n_y, BN):
        cols, cmask, yc = _index(c0, n_y, BN, BIG)
        xy = _dots(X, Y, xr, yc, D, sx, sy, BM, BN, BK, EVEN_K, PREC, UPCAST)
        lg = xy * scale
        lse_y = tl.load(LSE_Y + yc)
        g_y = tl.where(cmask, tl.load(G_Y + yc), 0.0)  # columns past n_y likewise
        dl = g_x[:, None] * tl.exp(lg - lse_x[:, None]) + g_y[None, :] * tl.exp(lg - lse_y[None, :])
        dl = tl.where(cmask[None, :], dl, 0.0)  # wrapped columns repeat real ones: drop them
        ds_acc += tl.sum(dl * xy, 1)
        yv = tl.load(Y + yc[:, None] * sy + ds[None, :], mask=dmask[None, :], other=0.0)
        dl = dl.to(yv.dtype)
        if UPCAST:
            dl, yv = dl.to(tl.float32), yv.to(tl.float32)
        out = tl.dot(dl, yv, out, input_precision=PREC)
    out = (out * scale).to(DX.dtype.element_ty)  # accumulated over every column in fp32, rounded once
    tl.store(DX + rows[:, None] * sdx + ds[None, :], out, mask=rmask[:, None] & dmask[None, :])
    if tl.program_id(1) == 0:  # every slice of D computes the same sums; one stores them
        tl.store(DS + rows, ds_acc, mask=rmask)


def _block_k(d: int, bk: int) -> int:
    return max(16, min(bk, _next_pow2(d)))  # tl.dot needs every block dimension >= 16


def _shape_flags(x: torch.Tensor, y: torch.Tensor, bk: int) -> dict:
    """EVEN_K: D is a multiple of the K block (no masks in the matmul loop); BIG: offsets need 64 bits."""
    big = max(x.shape[0] * x.stride(0), y.shape[0] * y.stride(0)) >= 2**31 - 2**20
    return {"EVEN_K": x.shape[1] % bk == 0, "BIG": big}


def _precision(x: torch.Tensor) -> dict:
    """fp32: full-precision products ("ieee", as the PyTorch path; tf32 would cost ~1e-3 relative)."""
    upcast = interpreting() and x.dtype != torch.float32
    return {"PREC": "ieee" if (x.dtype == torch.float32 or upcast) else "tf32", "UPCAST": upcast}


def _scale_arg(scale: torch.Tensor, device) -> torch.Tensor:
    return scale.detach().to(device=device, dtype=torch.float32).reshape(1).contiguous()


def _splits(n_x: int, n_y: int, bm: int, bn: int, device: torch.device) -> int:
    """Column splits per row block so that small N still fills the GPU (partial row results merged after)."""
    if device.type != "cuda":
        return FWD_CONFIG.get("splits_cpu", 1)
    programs = torch.cuda.get_device_properties(device).multi_processor_count * FWD_CONFIG["waves"]
    return max(1, min(FWD_CONFIG["max_splits"], programs // triton_cdiv(n_x, bm), triton_cdiv(n_y, bn)))


def bidirectional_lse(
    x: torch.Tensor, y: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) log-sum-exp of ``scale * x @ y.T`` in fp32, without the matrix (no autograd)."""
    cfg = FWD_CONFIG
    bm, bn, bk = cfg["BM"], cfg["BN"], _block_k(x.shape[1], cfg["BK"])
    launch = {} if interpreting() else {"num_warps": cfg["num_warps"], "num_stages": cfg["num_stages"]}
    n_x, n_y, d = x.shape[0], y.shape[0], x.shape[1]
    s = _scale_arg(scale, x.device)
    x_norm = torch.linalg.vector_norm(x.float(), dim=1)
    y_norm = torch.linalg.vector_norm(y.float(), dim=1)
    u = s.abs() * x_norm.max() * y_norm  # >= every logit of each column (Cauchy-Schwarz)
    splits = _splits(n_x, n_y, bm, bn, x.device)
    chunk = triton_cdiv(triton_cdiv(n_y, splits), bn) * bn
    splits = triton_cdiv(n_y, chunk)
    lse_x = torch.empty(splits, n_x, device=x.device, dtype=torch.float32)
    sum_y = torch.zeros(n_y, device=x.device, dtype=torch.float32)
    common = {"BM": bm, "BN": bn, "BK": bk, **_shape_flags(x, y, bk), **_precision(x), **launch}
    lse_fwd[(triton_cdiv(n_x, bm), splits)](
        x, y, s, u, lse_x, sum_y, sum_y, n_x, n_y, d, x.stride(0), y.stride(0), chunk,
        COLS=True, ONLY_FLAGGED=False, **common,
    )  # fmt: skip
    lse_x = lse_x[0] if splits == 1 else torch.logsumexp(lse_x, 0)
    lse_y = u + sum_y.log()
    flag = (~(sum_y >= _SMALL_COL_SUM)).to(torch.int32)  # also catches NaN
    # exact recompute of the flagged columns only (device-side: no host sync; unflagged blocks exit at once)
    lse_fwd[(triton_cdiv(n_y, bm), 1)](
        y, x, s, u, lse_y, sum_y, flag, n_y, n_x, d, y.stride(0), x.stride(0), n_x,
        COLS=False, ONLY_FLAGGED=True, **common,
    )  # fmt: skip
    return lse_x, lse_y


def lse_grad(x, y, scale, lse_x, lse_y, g_x, g_y) -> tuple[torch.Tensor, torch.Tensor]:
    """``d x = scale * dL @ y`` (in ``x``'s dtype) and ``d scale = sum(dL * x @ y.T)`` (fp32) for
    ``dL = g_x exp(l - lse_x) + g_y exp(l - lse_y)``, ``l = scale x @ y.T``. Written straight in ``x``'s dtype: no fp32 N x D buffer (0.5 GiB at N=262k, D=512)."""
    cfg = BWD_CONFIG
    n_x, n_y, d = x.shape[0], y.shape[0], x.shape[1]
    bm, bn, bk = cfg["BM"], cfg["BN"], _block_k(d, cfg["BK"])
    bd = max(16, min(cfg["BD"], _next_pow2(d)))
    launch = {} if interpreting() else {"num_warps": cfg["num_warps"], "num_stages": cfg["num_stages"]}
    out = torch.empty(n_x, d, device=x.device, dtype=x.dtype)
    ds = torch.empty(n_x, device=x.device, dtype=torch.float32)
    lse_bwd[(triton_cdiv(n_x, bm), triton_cdiv(d, bd))](
        x, y, _scale_arg(scale, x.device), lse_x, lse_y, g_x, g_y, out, ds, n_x, n_y, d,
        x.stride(0), y.stride(0), out.stride(0), BM=bm, BN=bn, BK=bk, BD=bd, **_shape_flags(x, y, bk), **_precision(x), **launch,
    )  # fmt: skip
    return out, ds.sum()


def compile_check(arch: int = 90, dtype: str = "bf16") -> list[dict]:
    """Compile the kernels with the current launch shapes for ``sm_<arch>`` without a GPU (Triton's bundled
    ptxas), so a CPU-only machine can tell they build for Hopper. One dict per kernel: name, shared memory,
    and ``cuobjdump --dump-resource-usage`` (registers, spill stack). Needs TRITON_INTERPRET unset."""
    import subprocess
    import tempfile

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if interpreting():
        raise RuntimeError("compile_check needs the compiler: unset TRITON_INTERPRET")
    prec = "ieee" if dtype == "fp32" else "tf32"
    ints = dict.fromkeys(("n_x", "n_y", "D", "sx", "sy"), "i32")
    fwd_sig = {"X": f"*{dtype}", "Y": f"*{dtype}", "SCALE": "*fp32", "U": "*fp32", "LSE_X": "*fp32"}
    fwd_sig |= {"SUM_Y": "*fp32", "FLAG": "*i32", **ints, "chunk": "i32"}
    bwd_sig = {"X": f"*{dtype}", "Y": f"*{dtype}", "SCALE": "*fp32", "LSE_X": "*fp32", "LSE_Y": "*fp32"}
    bwd_sig |= {"G_X": "*fp32", "G_Y": "*fp32", "DX": f"*{dtype}", "DS": "*fp32", **ints, "sdx": "i32"}
    flags = {"EVEN_K": True, "BIG": False, "PREC": prec, "UPCAST": False}
    f, b = FWD_CONFIG, BWD_CONFIG
    jobs = [
        (
            lse_fwd,
            fwd_sig,
            {"BM": f["BM"], "BN": f["BN"], "BK": f["BK"], "COLS": cols, "ONLY_FLAGGED": not cols},
            f,
        )
        for cols in (True, False)
    ] + [(lse_bwd, bwd_sig, {"BM": b["BM"], "BN": b["BN"], "BK": b["BK"], "BD": b["BD"]}, b)]
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    out = []
    for fn, sig, consts, cfg in jobs:
        consts = {**consts, **flags}
        src = ASTSource(fn, {**sig, **dict.fromkeys(consts, "constexpr")}, consts)
        options = {"num_warps": cfg["num_warps"], "num_stages": cfg["num_stages"]}
        kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
        with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
            fh.write(kernel.asm["cubin"])
            fh.flush()
            usage = subprocess.run([tool, "--dump-resource-usage", fh.name], capture_output=True, text=True)
        line = " ".join(x.strip() for x in usage.stdout.splitlines() if "REG:" in x)
        out.append({"kernel": fn.__name__, **consts, "shared": kernel.metadata.shared, "usage": line})
    return out


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


class TritonBidirectionalLSE(torch.autograd.Function):
    """Row and column log-sum-exp of ``scale * rows @ cols.T`` (fp32), fused; exact gradients for all three."""

    @staticmethod
    def forward(ctx, rows, cols, scale):
        if rows.dtype != cols.dtype:
            raise ValueError(f"image and text features must share a dtype; got {rows.dtype} and {cols.dtype}")
        rows, cols = rows.contiguous(), cols.contiguous()
        lse_row, lse_col = bidirectional_lse(rows, cols, scale)
        ctx.save_for_backward(rows, cols, scale, lse_row, lse_col)
        return lse_row, lse_col

    @staticmethod
    def backward(ctx, g_row, g_col):
        rows, cols, scale, lse_row, lse_col = ctx.saved_tensors
        g_row = torch.zeros_like(lse_row) if g_row is None else g_row.float().contiguous()
        g_col = torch.zeros_like(lse_col) if g_col is None else g_col.float().contiguous()
        need_rows, need_cols, need_scale = ctx.needs_input_grad
        d_rows = d_cols = d_scale = None
        if need_rows or need_scale:
            d_rows, d_scale = lse_grad(rows, cols, scale, lse_row, lse_col, g_row, g_col)
            d_scale = d_scale.to(scale.dtype) if need_scale else None
            if not need_rows:
                d_rows = None
        if need_cols:
            d_cols, _ = lse_grad(cols, rows, scale, lse_col, lse_row, g_col, g_row)
        return d_rows, d_cols, d_scale
