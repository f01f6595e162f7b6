"""SAE quality: reconstruction (L0, FVU, MSE, cosine), dead/dense latents, and the LM's loss with the SAE
reconstruction spliced in (CE recovered, KL), the numbers SAEBench reports as "core"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

from hf_addons.interp.activations import HookSpec, edit_hook, hook_for, keep_mask, tokenize
from hf_addons.interp.model import SparseAutoencoder


def _batches(acts: torch.Tensor | Iterable[torch.Tensor], batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(acts, torch.Tensor):
        if acts.ndim != 2 or acts.shape[0] == 0:
            raise ValueError(f"activations must be a non-empty (N, d) tensor, got shape {tuple(acts.shape)}")
        yield from acts.split(batch_size)
    else:
        yield from acts


@torch.no_grad()
def evaluate(
    sae: SparseAutoencoder,
    activations: torch.Tensor | Iterable[torch.Tensor],
    batch_size: int = 4096,
    dense_threshold: float = 0.1,
) -> dict[str, float]:
    """Reconstruction metrics over all of ``activations``; ``dead_fraction`` = latents that never fired here,
    ``dense_fraction`` = latents firing on more than ``dense_threshold`` of tokens."""
    was_training = sae.training
    sae.eval()
    device = next(sae.parameters()).device
    d_sae = sae.config.d_sae
    fire_counts = torch.zeros(d_sae, device=device)
    n = 0
    sq_err = sum_x = sum_x2 = l0 = cos = 0.0
    for batch in _batches(activations, batch_size):
        x = batch.to(device).float().reshape(-1, sae.config.d_in)
        if not torch.isfinite(x).all():
            raise ValueError("activations contain NaN or inf values")
        if sae.config.architecture in ("topk", "groupmax"):
            values, indices = sae.encode_sparse(x)
            recon = sae.decode_sparse(values, indices)
            fire_counts.index_add_(0, indices.reshape(-1), (values > 0).reshape(-1).float())
            active = (values > 0).sum(-1)
        else:
            acts = sae.encode(x)
            recon = sae.decode(acts)
            fire_counts += (acts > 0).sum(0)
            active = (acts > 0).sum(-1)
        sq_err = sq_err + (x - recon).pow(2).sum()
        sum_x = sum_x + x.sum(0)
        sum_x2 = sum_x2 + x.pow(2).sum(0)
        l0 = l0 + active.sum()
        cos = cos + F.cosine_similarity(x, recon, dim=-1).sum()
        n += x.shape[0]
    if n == 0:
        raise ValueError("no activations to evaluate: the dataset is empty")
    total_var = (sum_x2 - sum_x.pow(2) / n).sum().clamp_min(1e-12)
    fvu = float(sq_err / total_var)
    freq = fire_counts / n
    sae.train(was_training)
    return {
        "tokens": float(n),
        "l0": float(l0 / n),
        "fvu": fvu,
        "explained_variance": 1.0 - fvu,
        "mse": float(sq_err / (n * sae.config.d_in)),
        "cosine": float(cos / n),
        "dead_fraction": float((freq == 0).float().mean()),
        "dense_fraction": float((freq > dense_threshold).float().mean()),
    }


def splice(sae: SparseAutoencoder, spec: HookSpec, mode: str = "sae", keep: torch.Tensor | None = None):
    """Replace the hooked activation (a module's output, or its input for ``resid_pre`` / ``attn_z``) by the SAE
    reconstruction (``mode="sae"``) or zeros (``"zero"``) at the positions in ``keep`` (B, T); other positions
    (BOS, pad) pass through unchanged."""

    def edit(part: torch.Tensor) -> torch.Tensor:  # one head's columns for a single-head SAE
        if mode == "sae":
            new = sae(part.float()).reconstruction.to(part.dtype)
        else:
            new = torch.zeros_like(part)
        return new if keep is None else torch.where(keep[..., None], new, part)

    return edit_hook(spec, edit)


def _ce_and_logp(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    logp = logits[:, :-1].float().log_softmax(-1)
    ce = -logp.gather(-1, targets[..., None]).squeeze(-1)
    return (ce * mask).sum(), logp


@torch.no_grad()
def ce_loss_recovered(
    sae: SparseAutoencoder,
    model: Any,
    tokenizer: Any,
    texts: Iterable[str],
    context_size: int = 128,
    batch_size: int = 8,
) -> dict[str, float]:
    """Next-token CE clean / with the SAE spliced in / with the activation zeroed, the fraction of CE
    recovered ``(ce_zero - ce_sae) / (ce_zero - ce_clean)``, and the mean KL(clean || spliced) per token."""
    spec = hook_for(sae, model)
    device = next(model.parameters()).device
    sae.eval()
    totals = {"clean": 0.0, "sae": 0.0, "zero": 0.0, "kl": 0.0}
    n_tok = 0
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("no texts to evaluate: the dataset is empty")
    for i in range(0, len(texts), batch_size):
        enc = tokenize(tokenizer, texts[i : i + batch_size], context_size, device)
        keep = keep_mask(enc["input_ids"], enc["attention_mask"], tokenizer)
        labels_mask = enc["attention_mask"][:, 1:].bool()
        targets = enc["input_ids"][:, 1:]

        clean_ce, clean_logp = _ce_and_logp(model(**enc, use_cache=False).logits, targets, labels_mask)
        with splice(sae, spec, "sae", keep):
            sae_ce, sae_logp = _ce_and_logp(model(**enc, use_cache=False).logits, targets, labels_mask)
        with splice(sae, spec, "zero", keep):
            zero_ce, _ = _ce_and_logp(model(**enc, use_cache=False).logits, targets, labels_mask)
        kl = (clean_logp.exp() * (clean_logp - sae_logp)).sum(-1)
        totals["clean"] += float(clean_ce)
        totals["sae"] += float(sae_ce)
        totals["zero"] += float(zero_ce)
        totals["kl"] += float((kl * labels_mask).sum())
        n_tok += int(labels_mask.sum())
    ce = {k: v / max(n_tok, 1) for k, v in totals.items()}
    denom = ce["zero"] - ce["clean"]
    return {
        "ce_clean": ce["clean"],
        "ce_sae": ce["sae"],
        "ce_zero": ce["zero"],
        "ce_loss_recovered": (ce["zero"] - ce["sae"]) / denom if abs(denom) > 1e-9 else float("nan"),
        "kl_div": ce["kl"],
        "tokens": float(n_tok),
    }
