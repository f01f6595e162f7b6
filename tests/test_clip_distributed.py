"""2-process gloo group on CPU: both distributed modes give exactly the single-process loss and gradients.

One spawn runs every check (starting two interpreters costs ~10 s on the CI runner)."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn import functional as F

WORLD, N_LOCAL, D = 2, 24, 16


def _global_batch():
    g = torch.Generator().manual_seed(0)
    n = WORLD * N_LOCAL
    img = F.normalize(torch.randn(n, D, generator=g), dim=-1)
    txt = F.normalize(img + torch.randn(n, D, generator=g), dim=-1)
    t_neg = F.normalize(torch.randn(WORLD * 3, D, generator=g), dim=-1)
    i_neg = F.normalize(torch.randn(WORLD * 2, D, generator=g), dim=-1)
    ids = torch.randint(0, n // 2, (n,), generator=g)
    return img, txt, t_neg, i_neg, ids


def _run(loss_fn, img, txt, t_neg, i_neg, ids):
    leaves = [t.clone().requires_grad_() for t in (img, txt, t_neg, i_neg)]
    loss = loss_fn(leaves[0], leaves[1], text_negatives=leaves[2], image_negatives=leaves[3], pair_ids=ids)
    loss.backward()
    params = {k: v.grad.clone() for k, v in loss_fn.named_parameters()}
    return loss.detach(), [t.grad for t in leaves], params


def _make(kind, mode):
    from hf_addons.contrastive import ClipLoss, SigLipLoss

    if kind == "clip":
        return ClipLoss(label_smoothing=0.1, init_logit_bias=0.5, distributed=mode, tile=(7, 10))
    return SigLipLoss(init_logit_scale=math.log(10.0), distributed=mode, tile=(7, 10))


def _worker(rank: int, init_file: str, errors) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        img, txt, t_neg, i_neg, ids = _global_batch()
        local = slice(rank * N_LOCAL, (rank + 1) * N_LOCAL)
        neg_t, neg_i = slice(rank * 3, (rank + 1) * 3), slice(rank * 2, (rank + 1) * 2)
        for kind in ("clip", "siglip"):
            single, single_g, single_p = _run(_make(kind, None), img, txt, t_neg, i_neg, ids)
            for mode in ("gather", "local"):
                loss, grads, params = _run(
                    _make(kind, mode), img[local], txt[local], t_neg[neg_t], i_neg[neg_i], ids[local]
                )
                # DDP averages over ranks: the averaged loss / gradients must be the single-process ones
                mean_loss = loss.clone()
                dist.all_reduce(mean_loss)
                mean_loss /= WORLD
                tol = 1e-6 * max(
                    1.0, float(single.abs())
                )  # SigLIP's loss is a sum (~27 here): relative there
                assert (mean_loss - single).abs() <= tol, (kind, mode, float(mean_loss - single))
                if mode == "gather":
                    assert (loss - single).abs() <= tol, (kind, mode, "every rank holds the global loss")
                for ours, ref, sl in zip(grads, single_g, (local, local, neg_t, neg_i)):
                    err = (ours / WORLD - ref[sl]).abs().max()
                    assert err <= 1e-6, (kind, mode, float(err))
                for name, grad in params.items():
                    dist.all_reduce(grad)
                    assert (grad / WORLD - single_p[name]).abs() <= 1e-6 * max(1, single_p[name].abs()), (
                        kind,
                        mode,
                        name,
                    )
        # unequal shards would silently weight ranks differently: refused on every rank with a clear error
        from hf_addons.contrastive import ClipLoss

        n = 4 + rank
        with pytest.raises(ValueError, match="same number of pairs"):
            ClipLoss(distributed="local")(torch.randn(n, 8), torch.randn(n, 8))
    except Exception as exc:  # report to the parent; an assertion in a spawned process is otherwise opaque
        errors.put(f"rank {rank}: {exc!r}")
        raise
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_process_gloo_matches_single_process(tmp_path):
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        mp.start_processes(
            _worker, args=(str(tmp_path / "init"), errors), nprocs=WORLD, join=True, start_method="spawn"
        )
    except Exception as exc:  # noqa: BLE001 - show the worker's own message
        messages = []
        while not errors.empty():
            messages.append(errors.get())
        raise AssertionError("; ".join(messages) or repr(exc)) from exc
