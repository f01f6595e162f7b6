"""Inspect latents: top-activating contexts over a dataset, logit effect through the unembedding, steering.

These are the calls an SAE explorer (e.g. the Gradio Space) needs; all run on any HF causal LM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from hf_addons.interp.activations import edit_hook, hook_for, keep_mask, run_to_hook, tokenize
from hf_addons.interp.model import SparseAutoencoder


def _latent_list(sae: SparseAutoencoder, latents: int | Sequence[int] | None) -> torch.Tensor:
    d_sae = sae.config.d_sae
    if latents is None:
        return torch.arange(d_sae)
    ids = torch.tensor([latents] if isinstance(latents, int) else list(latents), dtype=torch.long)
    if ids.numel() == 0:
        raise ValueError("no latents given")
    bad = ids[(ids < 0) | (ids >= d_sae)]
    if bad.numel():
        raise ValueError(
            f"latent ids {bad.tolist()} out of range: this SAE has {d_sae} latents (0..{d_sae - 1})"
        )
    return ids


def _spec(sae: SparseAutoencoder, model: Any):
    return hook_for(sae, model)


@torch.no_grad()
def top_contexts(
    sae: SparseAutoencoder,
    model: Any,
    tokenizer: Any,
    texts: Iterable[str],
    latents: int | Sequence[int] | None = None,
    top_k: int = 10,
    window: int = 8,
    context_size: int = 128,
    batch_size: int = 8,
    max_tokens: int | None = None,
    return_stats: bool = False,
) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], dict[str, Any]]:
    """For each latent, its ``top_k`` strongest activations over ``texts`` with the surrounding tokens.

    Returns ``[{"latent": i, "frequency": f, "count": n, "contexts": [{"activation", "text_index", "position",
    "token", "context", "left", "right"}, ...]}]`` where ``context`` marks the activating token as ``[[token]]``
    (``left`` / ``right``: the ``window`` tokens either side) and ``count`` is how many tokens the latent fired on.
    ``max_tokens`` stops after the batch that reaches that many tokens. With ``return_stats``, returns
    ``(rows, {"n_tokens", "mean_norm"})``: tokens scanned and the hooked activation's mean L2 norm over them.
    """
    ids = _latent_list(sae, latents)
    spec = _spec(sae, model)
    device = next(sae.parameters()).device
    ids_dev = ids.to(device)
    n_lat = ids.numel()
    best_vals = torch.full((n_lat, top_k), -1.0, device=device)
    best_pos = torch.full((n_lat, top_k), -1, dtype=torch.long, device=device)
    fire = torch.zeros(n_lat, device=device)
    norm_sum = 0.0
    all_ids: list[torch.Tensor] = []
    n_tokens, n_text = 0, 0
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("no texts: the dataset is empty")
    for i in range(0, len(texts), batch_size):
        enc = tokenize(tokenizer, texts[i : i + batch_size], context_size, next(model.parameters()).device)
        acts = run_to_hook(model, spec, enc["input_ids"], enc["attention_mask"]).float().to(device)
        b, t = enc["input_ids"].shape
        lat = sae.encode(acts)[..., ids_dev]  # (B, T, n_lat)
        keep = keep_mask(enc["input_ids"], enc["attention_mask"], tokenizer).to(device)
        lat = lat.masked_fill(~keep[..., None], -1.0)
        fire += (lat > 0).sum((0, 1))
        n_tokens += int(keep.sum())
        if return_stats:
            norm_sum += float(acts.norm(dim=-1)[keep].sum())
        # global position id = (text index) * context_size + token position
        pos = (torch.arange(b, device=device)[:, None] + n_text) * context_size + torch.arange(
            t, device=device
        )
        vals = torch.cat([best_vals, lat.reshape(-1, n_lat).T], dim=1)
        cand = torch.cat([best_pos, pos.reshape(1, -1).expand(n_lat, -1)], dim=1)
        best_vals, sel = vals.topk(top_k, dim=1)
        best_pos = cand.gather(1, sel)
        padded = torch.full((b, context_size), tokenizer.pad_token_id or 0, dtype=torch.long)
        padded[:, :t] = enc["input_ids"].cpu()
        all_ids.append(padded)
        n_text += b
        if max_tokens is not None and n_tokens >= max_tokens:
            break
    token_ids = torch.cat(all_ids)
    vals_l, pos_l = best_vals.cpu().tolist(), best_pos.cpu().tolist()
    freq = (fire / max(n_tokens, 1)).cpu().tolist()
    counts = fire.long().cpu().tolist()
    out = []
    for row, latent in enumerate(ids.tolist()):  # formatting the result: n_latents x top_k, not a hot path
        contexts = []
        for value, gpos in zip(vals_l[row], pos_l[row]):
            if value <= 0 or gpos < 0:
                continue
            text_index, position = divmod(gpos, context_size)
            seq = token_ids[text_index]
            left = tokenizer.decode(seq[max(0, position - window) : position], skip_special_tokens=True)
            tok = tokenizer.decode(seq[position : position + 1])
            right = tokenizer.decode(seq[position + 1 : position + 1 + window], skip_special_tokens=True)
            contexts.append(
                {
                    "activation": value,
                    "text_index": text_index,
                    "position": position,
                    "token": tok,
                    "context": f"{left}[[{tok}]]{right}",
                    "left": left,
                    "right": right,
                }
            )
        out.append({"latent": latent, "frequency": freq[row], "count": counts[row], "contexts": contexts})
    if return_stats:
        return out, {"n_tokens": n_tokens, "mean_norm": norm_sum / max(n_tokens, 1)}
    return out


def _final_norm_weight(model: Any) -> torch.Tensor | None:
    base = getattr(model, "base_model", model)
    for name in ("norm", "ln_f", "final_layernorm", "final_layer_norm"):
        module = getattr(base, name, None)
        if module is not None and getattr(module, "weight", None) is not None:
            return module.weight
    return None


@torch.no_grad()
def logit_effect(
    sae: SparseAutoencoder, model: Any, tokenizer: Any, latents: int | Sequence[int], top_k: int = 10
) -> list[dict[str, Any]]:
    """Tokens each latent's decoder direction promotes / suppresses: ``W_U (g * W_dec[i])`` where ``g`` is the
    final norm's scale (the direct-path logit effect; nonlinear norms are taken as their scale only)."""
    ids = _latent_list(sae, latents)
    unembed = model.get_output_embeddings().weight  # (V, d)
    if unembed.shape[1] != sae.config.d_in:
        raise ValueError(
            f"SAE d_in={sae.config.d_in} does not match the model's hidden size {unembed.shape[1]}"
        )
    dirs = sae.W_dec[ids.to(sae.W_dec.device)].to(unembed.device, unembed.dtype)
    g = _final_norm_weight(model)
    if g is not None:
        dirs = dirs * g
    logits = (dirs @ unembed.T).float()  # (n, V)
    top = logits.topk(top_k, dim=-1)
    bottom = (-logits).topk(top_k, dim=-1)
    out = []
    for row, latent in enumerate(ids.tolist()):
        out.append(
            {
                "latent": latent,
                "positive": [
                    (tokenizer.decode([t]), v)
                    for t, v in zip(top.indices[row].tolist(), top.values[row].tolist())
                ],
                "negative": [
                    (tokenizer.decode([t]), -v)
                    for t, v in zip(bottom.indices[row].tolist(), bottom.values[row].tolist())
                ],
            }
        )
    return out


@contextmanager
def steer(
    model: Any,
    sae: SparseAutoencoder,
    latents: int | Sequence[int] | dict[int, float],
    strength: float = 10.0,
):
    """Add ``strength * W_dec[latent]`` (or per-latent strengths from a dict) to the hooked activation at every
    position of every forward inside the block, ``generate`` included. For an SAE that normalises its inputs
    (``normalize_activations``) the direction is scaled per token as its reconstruction is."""
    if isinstance(latents, dict):
        ids = _latent_list(sae, list(latents))
        scales = torch.tensor(list(latents.values()), dtype=torch.float32)
    else:
        ids = _latent_list(sae, latents)
        scales = torch.full((ids.numel(),), float(strength))
    spec = _spec(sae, model)
    with torch.no_grad():
        direction = (scales.to(sae.W_dec.device)[:, None] * sae.W_dec[ids.to(sae.W_dec.device)]).sum(0)

    def add(part: torch.Tensor) -> torch.Tensor:  # one head's columns for a single-head SAE
        d = direction.to(part.device, part.dtype)
        stats = sae.input_stats(part.float())
        if stats is not None:  # a latent's unit at this token, as the SAE's decode maps it back
            d = stats[0].to(part.dtype) * d
        return part + d

    with edit_hook(spec, add):
        yield


def generate_steered(
    model: Any,
    tokenizer: Any,
    sae: SparseAutoencoder,
    prompt: str,
    latents: int | Sequence[int] | dict[int, float],
    strength: float = 10.0,
    max_new_tokens: int = 40,
    chat: bool = False,
    **generate_kwargs: Any,
) -> str:
    """Generate from ``prompt`` while steering; returns only the new text. ``chat=True`` sends ``prompt`` as a
    user message through the tokenizer's chat template (with the generation prompt) instead of as raw text."""
    if chat:
        enc = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
    else:
        enc = tokenizer(prompt, return_tensors="pt")
    enc = enc.to(next(model.parameters()).device)
    generate_kwargs.setdefault("do_sample", False)
    with steer(model, sae, latents, strength), torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, **generate_kwargs)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
