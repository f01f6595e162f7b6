"""``hf-addons clip``: check our CLIP/SigLIP loss against the naive full-matrix loss, and time it vs the anchors."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="clip_command", metavar="ACTION")
    p = sub.add_parser(
        "check",
        help="exactness on random data: loss and gradients vs the naive N x N loss (fails if fp32 > 1e-6)",
    )
    p.add_argument("--n", type=int, default=512, help="pairs in the batch (default 512)")
    p.add_argument("--dim", type=int, default=64, help="feature dimension (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-6, help="fp32 tolerance (relative above 1; default 1e-6)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "bench", help="forward+backward time (and CPU/GPU peak memory) vs open_clip / transformers"
    )
    p.add_argument("--n", type=int, nargs="+", default=[4096], help="batch sizes (default 4096)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--memory", action="store_true", help="also measure peak extra memory")
    p.add_argument("--methods", nargs="+", default=["ours", "open_clip", "transformers"])
    p.set_defaults(func=_bench)


def _check(args: argparse.Namespace) -> int:
    import math

    import torch
    from torch.nn import functional as F

    from hf_addons.contrastive import clamp_logit_scale
    from hf_addons.contrastive import loss as L

    if args.n < 2 or args.dim < 1:
        raise ValueError(f"--n must be >= 2 and --dim >= 1; got {args.n}, {args.dim}")
    g = torch.Generator().manual_seed(args.seed)
    n, d = args.n, args.dim
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    txt = F.normalize(img + torch.randn(n, d, generator=g), dim=-1)
    extra = {
        "text_negatives": F.normalize(torch.randn(max(1, n // 8), d, generator=g), dim=-1),
        "image_negatives": F.normalize(torch.randn(max(1, n // 16), d, generator=g), dim=-1),
    }
    ids = torch.randint(0, max(1, n // 2), (n,), generator=g)
    cases = {
        "clip": (L.clip_loss_tiled, L.naive_clip_loss, {}, None),
        "clip+smoothing+negatives+duplicates": (
            L.clip_loss_tiled,
            L.naive_clip_loss,
            {"label_smoothing": 0.1, "pair_ids": ids, **extra},
            None,
        ),
        "siglip": (L.siglip_loss_tiled, L.naive_siglip_loss, {}, -10.0),
        "siglip+negatives+duplicates": (
            L.siglip_loss_tiled,
            L.naive_siglip_loss,
            {"pair_ids": ids, **extra},
            -10.0,
        ),
    }
    rows, failed = [], False
    for name, (ours_fn, naive_fn, kwargs, bias) in cases.items():
        for dtype in (torch.float32, torch.bfloat16):
            res = {}
            for tag, fn, dt in (
                ("ours", ours_fn, dtype),
                ("naive", naive_fn, dtype),
                ("ref", naive_fn, torch.float64),
            ):
                leaves = [img.to(dt), txt.to(dt), torch.tensor(math.log(1 / 0.07), dtype=torch.float32)]
                if bias is not None:
                    leaves.append(torch.tensor(bias))
                leaves = [t.clone().requires_grad_() for t in leaves]
                kw = {k: (v.to(dt) if k.endswith("negatives") else v) for k, v in kwargs.items()}
                scale = clamp_logit_scale(leaves[2])
                if dt == torch.float64:
                    scale = scale.double()
                loss = fn(leaves[0], leaves[1], scale, leaves[3] if bias is not None else None, **kw)
                loss.backward()
                res[tag] = [loss.detach().double()] + [t.grad.double() for t in leaves]
            names = ["loss", "d_image", "d_text", "d_log_scale"] + (["d_bias"] if bias is not None else [])
            for i, key in enumerate(names):
                vs_naive = float((res["ours"][i] - res["naive"][i]).abs().max())
                scale_ref = max(1.0, float(res["ref"][i].abs().max()))
                row = {
                    "case": name,
                    "dtype": str(dtype).removeprefix("torch."),
                    "value": key,
                    "ours_vs_naive": vs_naive,
                    "ours_vs_fp64": float((res["ours"][i] - res["ref"][i]).abs().max()),
                    "naive_vs_fp64": float((res["naive"][i] - res["ref"][i]).abs().max()),
                }
                if dtype == torch.float32:
                    row["ok"] = vs_naive <= args.tol * scale_ref
                    failed |= not row["ok"]
                rows.append(row)
    if args.json:
        print(json.dumps({"n": n, "dim": d, "ok": not failed, "rows": rows}))
    else:
        print(
            f"N={n} D={d}: max |difference| (fp32 must match the naive loss within {args.tol}, relative above 1)"
        )
        print(f"{'case':38} {'dtype':9} {'value':12} {'ours-naive':>11} {'ours-fp64':>11} {'naive-fp64':>11}")
        for r in rows:
            flag = "" if r.get("ok", True) else "  FAIL"
            print(
                f"{r['case']:38} {r['dtype']:9} {r['value']:12} {r['ours_vs_naive']:11.2e} "
                f"{r['ours_vs_fp64']:11.2e} {r['naive_vs_fp64']:11.2e}{flag}"
            )
        print("OK" if not failed else "FAILED")
    return 1 if failed else 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from hf_addons.contrastive import bench

    for m in args.methods:
        if m not in bench.METHODS:
            raise ValueError(f"unknown method {m!r}; choose from {bench.METHODS}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    for n in args.n:
        if n < 2:
            raise ValueError(f"--n must be >= 2; got {n}")
        times, mem = {}, {}
        for m in args.methods:
            inputs = bench.make_inputs(n, args.dim, dtype, device)
            try:
                times[m] = bench.time_fwd_bwd(m, inputs, repeats=args.repeats)
                if args.memory:
                    mem[m] = (
                        bench.peak_extra_gib_cuda(m, inputs)
                        if device.startswith("cuda")
                        else bench.peak_extra_gib_cpu(m, n, args.dim, args.dtype, torch.get_num_threads())
                    )
            except torch.OutOfMemoryError:
                times[m] = None
            del inputs
        parts = []
        for m in args.methods:
            t = times[m]
            txt = "OOM" if t is None else f"{t * 1e3:.1f} ms"
            if m in mem:
                txt += f" / {mem[m]:.3f} GiB"
            if m != "ours" and t is not None and times.get("ours"):
                txt += f" ({t / times['ours']:.2f}x ours)"
            parts.append(f"{m}: {txt}")
        print(f"N={n} D={args.dim} {args.dtype} {device}: " + "; ".join(parts))
    return 0
