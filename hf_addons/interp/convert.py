"""Load SAELens and EleutherAI sparsify checkpoints into ``SparseAutoencoder``, from their file formats.

- SAELens: ``cfg.json`` + ``sae_weights.safetensors`` (``W_enc`` d_in x d_sae, ``W_dec`` d_sae x d_in, ``b_enc``,
  ``b_dec``, ``threshold`` / ``log_threshold`` for JumpReLU); hook names like ``blocks.8.hook_resid_pre``.
- sparsify: ``cfg.json`` (``d_in``, ``num_latents`` or ``expansion_factor``, ``k``) + ``sae.safetensors``
  (``encoder.weight`` d_sae x d_in, ``encoder.bias``, ``W_dec``, ``b_dec``) in a folder named after the hooked
  module (``layers.6`` = output of decoder layer 6).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from hf_addons.interp.config import SAEConfig
from hf_addons.interp.model import SparseAutoencoder

logger = logging.getLogger(__name__)

_SAELENS_HOOKS = {
    "hook_resid_post": "resid_post",
    "hook_resid_pre": "resid_pre",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
}


def _read_folder(path: Path, weights_name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``cfg.json`` and the weights file of an SAELens / sparsify folder, with errors naming what is missing."""
    from safetensors.torch import load_file

    cfg, weights = path / "cfg.json", path / weights_name
    for f in (cfg, weights):
        if not f.exists():
            raise FileNotFoundError(f"{path} has no {f.name}; is it an SAELens or sparsify SAE folder?")
    return json.loads(cfg.read_text()), load_file(str(weights))


def _oriented(t: torch.Tensor, rows: int, cols: int, name: str) -> torch.Tensor:
    if tuple(t.shape) == (rows, cols):
        return t
    if tuple(t.shape) == (cols, rows):
        return t.T
    raise ValueError(f"{name} has shape {tuple(t.shape)}, expected ({rows}, {cols})")


def _build(config: SAEConfig, W_enc, b_enc, W_dec, b_dec, extra: dict[str, torch.Tensor] | None = None):
    sae = SparseAutoencoder(config)
    d_in, d_sae = config.d_in, config.d_sae
    state = {
        "W_enc": _oriented(W_enc, d_in, d_sae, "W_enc").float().contiguous(),
        "b_enc": (b_enc if b_enc is not None else torch.zeros(d_sae)).float().reshape(d_sae),
        "W_dec": _oriented(W_dec, d_sae, d_in, "W_dec").float().contiguous(),
        "b_dec": (b_dec if b_dec is not None else torch.zeros(d_in)).float().reshape(d_in),
        **(extra or {}),
    }
    sae.load_state_dict(state)
    return sae.eval()


def load_saelens(path: str | Path) -> SparseAutoencoder:
    """An SAELens SAE folder (``cfg.json`` + ``sae_weights.safetensors``) as our class."""
    path = Path(path)
    cfg, w = _read_folder(path, "sae_weights.safetensors")
    arch_in = cfg.get("architecture", "standard")
    act_fn = cfg.get("activation_fn_str", cfg.get("activation_fn", "relu"))
    k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
    if arch_in in ("topk",) or act_fn == "topk":
        arch = "topk"
    elif arch_in == "batchtopk":
        arch = "batchtopk"
    elif arch_in == "jumprelu":
        arch = "jumprelu"
    elif arch_in == "standard":
        arch = "relu"
    else:
        raise ValueError(
            f"SAELens architecture {arch_in!r} is not supported (topk, batchtopk, jumprelu, standard)"
        )
    norm = cfg.get("normalize_activations")
    if norm not in (None, "none"):
        logger.warning(
            "this SAELens SAE expects normalize_activations=%r: scale inputs as SAELens does", norm
        )
    hook = cfg.get("hook_name", "")
    m = re.match(r"blocks\.(\d+)\.(\w+)$", hook)
    layer = int(m.group(1)) if m else cfg.get("hook_layer")
    hook_point = _SAELENS_HOOKS.get(m.group(2), "resid_post") if m else "resid_post"
    if m and m.group(2) not in _SAELENS_HOOKS:
        logger.warning("SAELens hook %r has no HF equivalent here; treating it as resid_post", hook)
    config = SAEConfig(
        d_in=cfg["d_in"],
        d_sae=cfg["d_sae"],
        architecture=arch,
        k=int(k or 32),
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", arch == "relu")),
        normalize_decoder=arch in ("topk", "batchtopk"),
        model_name=cfg.get("model_name"),
        layer=layer,
        hook_point=hook_point,
    )
    extra: dict[str, torch.Tensor] = {}
    if arch == "jumprelu":
        if "log_threshold" in w:
            extra["log_threshold"] = w["log_threshold"].float()
        elif "threshold" in w:
            extra["log_threshold"] = w["threshold"].float().clamp_min(1e-12).log()
        else:
            raise ValueError("JumpReLU SAE without threshold / log_threshold tensor")
    if arch == "batchtopk":
        extra["threshold"] = w.get("threshold", torch.tensor(0.0)).float().reshape(())
    return _build(config, w["W_enc"], w.get("b_enc"), w["W_dec"], w.get("b_dec"), extra)


def load_sparsify(path: str | Path) -> SparseAutoencoder:
    """A sparsify SAE folder (``cfg.json`` + ``sae.safetensors``) as our class (TopK)."""
    path = Path(path)
    cfg, w = _read_folder(path, "sae.safetensors")
    d_in = int(cfg["d_in"])
    d_sae = int(cfg.get("num_latents") or d_in * int(cfg.get("expansion_factor", 32)))
    if w.get("W_skip") is not None or cfg.get("skip_connection"):
        raise ValueError("sparsify SAEs with a skip connection are not supported")
    if cfg.get("transcode"):
        raise ValueError("sparsify transcoders are not supported, only SAEs")
    enc = w["encoder.weight"] if "encoder.weight" in w else w["W_enc"]
    if "W_dec" not in w:
        raise ValueError("sparsify checkpoint has no W_dec (a tied-decoder SAE is not supported)")
    match = re.search(r"layers[._](\d+)", path.name)
    meta = path.parent / "config.json"
    model_name = json.loads(meta.read_text()).get("model") if meta.exists() else None
    config = SAEConfig(
        d_in=d_in,
        d_sae=d_sae,
        architecture="topk",
        k=int(cfg["k"]),
        apply_b_dec_to_input=True,
        normalize_decoder=bool(cfg.get("normalize_decoder", True)),
        model_name=model_name,
        layer=int(match.group(1)) if match else None,
        hook_point="resid_post",
    )
    return _build(config, enc, w.get("encoder.bias", w.get("b_enc")), w["W_dec"], w.get("b_dec"))


def load_sae(path: str | Path) -> SparseAutoencoder:
    """Our format (``config.json``), SAELens (``sae_weights.safetensors``) or sparsify (``sae.safetensors``)."""
    path = Path(path)
    if (path / "config.json").exists() and (path / "model.safetensors").exists():
        return SparseAutoencoder.from_pretrained(str(path))
    if (path / "sae_weights.safetensors").exists():
        return load_saelens(path)
    if (path / "sae.safetensors").exists():
        return load_sparsify(path)
    if not path.exists():
        raise FileNotFoundError(f"no SAE at {path}")
    raise ValueError(
        f"{path} is not an SAE folder: expected model.safetensors + config.json (ours), "
        "sae_weights.safetensors (SAELens) or sae.safetensors (sparsify)"
    )
