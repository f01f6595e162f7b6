"""SAELens and EleutherAI sparsify checkpoints in and out of ``SparseAutoencoder``: exact, or a clear refusal.

Loading maps each format's computation onto ours with the same function (checked against checkpoints written by
the real libraries, ``tests/fixtures/sae``); what cannot be represented raises ``ValueError`` naming the field.

- SAELens (``cfg.json`` + ``sae_weights.safetensors``), inference format and training checkpoints, 6.x (hook and
  model under ``metadata``) and older (top level): ``standard`` -> relu, ``topk`` -> topk, ``jumprelu`` ->
  jumprelu, ``batchtopk`` / ``matryoshka_batchtopk`` training checkpoints -> batchtopk (SAELens's own inference
  form: a threshold on the pre-activations), ``gated`` -> jumprelu (a gated SAE with a shared encoder is a JumpReLU
  with ``W_enc * exp(r_mag)``, ``b_mag`` and threshold ``b_mag - exp(r_mag) * b_gate``).
  ``rescale_acts_by_decoder_norm`` is folded into the weights (SAELens's ``fold_W_dec_norm``), then
  ``normalize_activations="expected_average_only_in"`` with its ``activation_scaler.json`` factor (SAELens's
  ``fold_activation_norm_scaling_factor``). The per-token ``layer_norm`` and ``constant_norm_rescale`` are kept
  as ``SAEConfig.normalize_activations`` and computed as SAELens does (the OpenAI GPT-2 TopK SAEs use
  ``layer_norm``). ``blocks.L.attn.hook_z`` SAEs (``reshape_activations="hook_z"``, e.g. Kissane et al.'s attention
  SAEs) read the ``attn_z`` hook point: the attention output projection's input, whose concatenated heads are
  TransformerLens's ``z`` flattened in the same order; with ``hook_head_index`` one head's ``d_head`` columns
  of it (``SAEConfig.head_index``). Refused: ``covariance_whitening``, ``hook_head_index`` on other hooks,
  transcoders and the other architectures.
- sparsify (``cfg.json`` + ``sae.safetensors``; ``encoder.weight`` d_sae x d_in): ``activation`` ``topk`` and
  ``groupmax``, in a folder named after the hooked module (``layers.6`` = output of decoder layer 6); a run folder
  holding one such folder per hook loads with ``load_sparsify_run``. Refused: skip connections, transcoders,
  tied decoders.

Exporting (``save_saelens``, ``save_sparsify``) writes the formats back so the real libraries load an SAE trained
here with the same outputs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from hf_addons.interp.config import INPUT_NORMALIZATIONS, SAEConfig
from hf_addons.interp.model import SparseAutoencoder

SAELENS_WEIGHTS = "sae_weights.safetensors"
SPARSIFY_WEIGHTS = "sae.safetensors"
# SAELens version whose cfg.json layout ``save_saelens`` writes (its loader converts anything older than 6.0)
SAELENS_FORMAT_VERSION = "6.0.0"

_SAELENS_HOOKS = {
    "hook_resid_post": "resid_post",
    "hook_resid_pre": "resid_pre",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
    "attn.hook_z": "attn_z",
}
_SPARSIFY_HOOKS = {"": "resid_post", "mlp": "mlp_out", "self_attn": "attn_out"}
_SAELENS_KEYS = {
    "standard": {"W_enc", "b_enc", "W_dec", "b_dec"},
    "topk": {"W_enc", "b_enc", "W_dec", "b_dec"},
    "jumprelu": {"W_enc", "b_enc", "W_dec", "b_dec", "threshold"},
    "batchtopk": {"W_enc", "b_enc", "W_dec", "b_dec", "topk_threshold"},
    "gated": {"W_enc", "b_gate", "b_mag", "r_mag", "W_dec", "b_dec"},
}
_SAELENS_KEYS["matryoshka_batchtopk"] = _SAELENS_KEYS["batchtopk"]


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
    raise ValueError(f"{name} has shape {tuple(t.shape)}, expected ({rows}, {cols})")


def _build(config: SAEConfig, W_enc, b_enc, W_dec, b_dec, extra: dict[str, torch.Tensor] | None = None):
    sae = SparseAutoencoder(config)
    d_in, d_sae = config.d_in, config.d_sae
    state = {
        "W_enc": _oriented(W_enc, d_in, d_sae, "W_enc").contiguous(),
        "b_enc": b_enc.reshape(d_sae),
        "W_dec": _oriented(W_dec, d_sae, d_in, "W_dec").contiguous(),
        "b_dec": b_dec.reshape(d_in),
        **(extra or {}),
    }
    sae.load_state_dict({k: v.float() for k, v in state.items()})
    return sae.eval()


def _unit_rows(W_dec: torch.Tensor) -> bool:
    return bool(torch.allclose(W_dec.float().norm(dim=-1), torch.ones(W_dec.shape[0]), atol=1e-4))


# -- SAELens ---------------------------------------------------------------------------------------------------
def _saelens_cfg(raw: dict[str, Any]) -> dict[str, Any]:
    """A cfg.json in SAELens 6 terms: pre-6 keys renamed, and hook / model read from ``metadata`` or the top level."""
    cfg = dict(raw)
    meta = dict(cfg.get("metadata") or {})
    for old, new in (("hook_point", "hook_name"), ("activation_fn_str", "activation_fn")):
        if old in cfg and new not in cfg:
            cfg[new] = cfg.pop(old)
    for key in ("hook_name", "model_name", "hook_head_index", "hook_layer"):
        if meta.get(key) is None and cfg.get(key) is not None:
            meta[key] = cfg[key]
    cfg["metadata"] = meta
    arch = cfg.get("architecture")
    if arch is None:  # pre-6: a standard SAE unless activation_fn says topk
        kwargs = cfg.get("activation_fn_kwargs") or {}
        if cfg.get("activation_fn") == "topk" and kwargs.get("k") is not None:
            cfg["architecture"], cfg["k"] = "topk", kwargs["k"]
        else:
            cfg["architecture"] = "standard"
    return cfg


def _saelens_hook(meta: dict[str, Any]) -> dict[str, Any]:
    """SAELens/TransformerLens hook name -> our ``layer`` / ``hook_point`` (or ``source_hook_name`` if none)."""
    hook = meta.get("hook_name") or ""
    m = re.fullmatch(r"blocks\.(\d+)\.((?:attn\.)?hook_\w+)", hook)
    if m and m.group(2) in _SAELENS_HOOKS:
        out = {"layer": int(m.group(1)), "hook_point": _SAELENS_HOOKS[m.group(2)], "source_hook_name": hook}
        if meta.get("hook_head_index") is not None:
            out["head_index"] = int(meta["hook_head_index"])
        return out
    return {"layer": None, "hook_point": "resid_post", "source_hook_name": hook or None}


def _refuse_saelens(cfg: dict[str, Any], path: Path) -> None:
    arch = cfg["architecture"]
    if arch not in _SAELENS_KEYS:
        raise ValueError(
            f"{path}: SAELens architecture {arch!r} is not supported; supported: {sorted(_SAELENS_KEYS)}"
        )
    reshape = cfg.get("reshape_activations") or "none"
    hook = cfg["metadata"].get("hook_name") or ""
    if reshape not in ("none", "hook_z"):
        raise ValueError(f"{path}: reshape_activations={reshape!r} is not supported")
    if reshape == "hook_z" and not re.fullmatch(r"blocks\.\d+\.attn\.hook_z", hook):
        raise ValueError(
            f"{path}: reshape_activations='hook_z' on hook {hook!r}: only blocks.L.attn.hook_z maps to a module "
            "here (the attention output projection's input)"
        )
    if cfg["metadata"].get("hook_head_index") is not None and not re.fullmatch(
        r"blocks\.\d+\.attn\.hook_z", hook
    ):
        raise ValueError(
            f"{path}: hook_head_index on hook {hook!r}: one head maps to a module here only on blocks.L.attn.hook_z"
        )
    if cfg.get("finetuning_scaling_factor"):
        raise ValueError(f"{path}: finetuning_scaling_factor=True (pre-6 SAELens) is not supported")
    norm = cfg.get("normalize_activations") or "none"
    if norm == "covariance_whitening":
        raise ValueError(
            f"{path}: normalize_activations='covariance_whitening' (a learned whitening map) is not supported; "
            "'none', 'expected_average_only_in', 'layer_norm' and 'constant_norm_rescale' load"
        )
    if norm not in ("none", "expected_average_only_in", *INPUT_NORMALIZATIONS):
        raise ValueError(f"{path}: unknown normalize_activations {norm!r}")


def _scaling_factor(path: Path, norm: str, given: float | None) -> float | None:
    if norm != "expected_average_only_in":
        return None
    if given is not None:
        return float(given)
    scaler = path / "activation_scaler.json"
    if scaler.exists():
        data = json.loads(scaler.read_text())
        if data.get("has_whitening"):
            raise ValueError(f"{scaler}: activation whitening is not supported")
        if data.get("scaling_factor") is not None:
            return float(data["scaling_factor"])
    raise ValueError(
        f"{path}: normalize_activations='expected_average_only_in' but no scaling factor: SAELens scales the "
        "inputs by a factor it estimates in training (activation_scaler.json in a training checkpoint, "
        "'norm_scaling_factor' in its pretrained directory). Pass norm_scaling_factor=... (1.0 computes what "
        "SAELens's bare SAE.load_from_disk does: no scaling)"
    )


def load_saelens(path: str | Path, norm_scaling_factor: float | None = None) -> SparseAutoencoder:
    """An SAELens SAE folder (``cfg.json`` + ``sae_weights.safetensors``, inference or training) as our class.

    Args:
        path: the folder.
        norm_scaling_factor: for ``normalize_activations="expected_average_only_in"`` SAEs without an
            ``activation_scaler.json``: the factor SAELens multiplies inputs by (outputs are divided by it).
    """
    path = Path(path)
    raw, w = _read_folder(path, SAELENS_WEIGHTS)
    cfg = _saelens_cfg(raw)
    _refuse_saelens(cfg, path)
    arch = cfg["architecture"]
    w = {k: v.float() for k, v in w.items()}
    if "log_threshold" in w and "threshold" not in w:  # older JumpReLU checkpoints
        w["threshold"] = w.pop("log_threshold").exp()
    expected = _SAELENS_KEYS[arch]
    if set(w) != expected:
        raise ValueError(
            f"{path}: {arch} SAE has tensors {sorted(w)}, expected {sorted(expected)}; "
            f"unexpected: {sorted(set(w) - expected)}, missing: {sorted(expected - set(w))}"
        )
    d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    W_enc, W_dec, b_dec = w["W_enc"], w["W_dec"], w["b_dec"]
    _oriented(W_enc, d_in, d_sae, "W_enc")
    _oriented(W_dec, d_sae, d_in, "W_dec")
    extra: dict[str, torch.Tensor] = {}
    k = int(cfg.get("k") or 32)
    if arch in ("topk", "batchtopk", "matryoshka_batchtopk") and float(cfg["k"]) != int(cfg["k"]):
        raise ValueError(f"{path}: k={cfg['k']} is not an integer")
    if arch == "gated":
        # gate: x W + b_gate > 0  <=>  magnitude pre-activation x (W e^r) + b_mag > b_mag - e^r b_gate
        scale = w["r_mag"].exp()
        W_enc, b_enc = W_enc * scale, w["b_mag"]
        threshold = w["b_mag"] - scale * w["b_gate"]
    else:
        b_enc = w["b_enc"]
        threshold = w.get("threshold")
    if cfg.get("rescale_acts_by_decoder_norm") and arch in ("topk", "batchtopk", "matryoshka_batchtopk"):
        # top-k / threshold on pre * ||W_dec_i||, decode with acts / ||W_dec_i||: fold the norms in
        norms = W_dec.norm(dim=-1).clamp_min(1e-8)
        W_enc, b_enc, W_dec = W_enc * norms, b_enc * norms, W_dec / norms[:, None]
    norm = cfg.get("normalize_activations") or "none"
    factor = _scaling_factor(path, norm, norm_scaling_factor)
    if factor is not None:  # SAELens's fold_activation_norm_scaling_factor: same outputs on unscaled inputs
        W_enc, W_dec, b_dec = W_enc * factor, W_dec / factor, b_dec / factor
    if arch == "standard":
        ours = "relu"
    elif arch == "topk":
        ours = "topk"
    elif arch in ("batchtopk", "matryoshka_batchtopk"):
        ours = "batchtopk"
        extra["threshold"] = w["topk_threshold"].reshape(())
    else:  # jumprelu, gated
        ours = "jumprelu"
        # SAELens computes relu(pre) * (pre > t); ours pre * (pre > t'), the same function for t' = max(t, 0)
        extra["log_threshold"] = threshold.clamp_min(0).log()
    meta = cfg["metadata"]
    config = SAEConfig(
        d_in=d_in,
        d_sae=d_sae,
        architecture=ours,
        k=k,
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
        normalize_activations=norm if norm in INPUT_NORMALIZATIONS else "none",
        normalize_decoder=ours in ("topk", "batchtopk") and _unit_rows(W_dec),
        model_name=meta.get("model_name"),
        **_saelens_hook(meta),
    )
    return _build(config, W_enc, b_enc, W_dec, b_dec, extra)


def _saelens_hook_name(config: SAEConfig) -> str | None:
    if config.layer is not None:
        if config.hook_point == "attn_z":
            return f"blocks.{config.layer}.attn.hook_z"
        return f"blocks.{config.layer}.hook_{config.hook_point}"
    return config.source_hook_name


def save_saelens(sae: SparseAutoencoder, path: str | Path) -> Path:
    """Write ``sae`` as an SAELens 6 inference folder (``cfg.json`` + ``sae_weights.safetensors``).

    ``SAE.load_from_disk(path)`` in SAELens then computes the same ``encode`` / ``decode``: relu -> ``standard``,
    topk -> ``topk``, jumprelu -> ``jumprelu``, batchtopk -> ``jumprelu`` with its threshold on every latent
    (what SAELens's own BatchTopK export does). GroupMax has no SAELens form (use ``save_sparsify``).

    Args:
        sae: the SAE.
        path: the folder to write (created).
    """
    from safetensors.torch import save_file

    cfg = sae.config
    arch = {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu", "batchtopk": "jumprelu"}.get(
        cfg.architecture
    )
    if arch is None:
        raise ValueError(f"SAELens has no {cfg.architecture!r} architecture; save it with save_sparsify")
    state = {
        name: t.detach().float().cpu().contiguous()
        for name, t in (
            ("W_enc", sae.W_enc),
            ("b_enc", sae.b_enc),
            ("W_dec", sae.W_dec),
            ("b_dec", sae.b_dec),
        )
    }
    if cfg.architecture == "jumprelu":
        state["threshold"] = sae.log_threshold.detach().float().cpu().exp().contiguous()
    elif cfg.architecture == "batchtopk":
        state["threshold"] = sae.threshold.detach().float().cpu().expand(cfg.d_sae).contiguous()
    out = {
        "architecture": arch,
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
        "normalize_activations": cfg.normalize_activations,
        # SAELens then takes (..., n_heads, d_head) inputs; ours reads them concatenated (head-major, the same order);
        # a single-head SAE reads (..., d_head) as it is
        "reshape_activations": "hook_z" if cfg.hook_point == "attn_z" and cfg.head_index is None else "none",
        "metadata": {
            "sae_lens_version": SAELENS_FORMAT_VERSION,
            "model_name": cfg.model_name,
            "hook_name": _saelens_hook_name(cfg),
            "hook_head_index": cfg.head_index,
            "training_architecture": cfg.architecture,
            "written_by": "hf-addons",
        },
    }
    if arch == "topk":
        out["k"] = cfg.k
        out["rescale_acts_by_decoder_norm"] = False
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / SAELENS_WEIGHTS))
    (path / "cfg.json").write_text(json.dumps(out, indent=2))
    return path


# -- sparsify --------------------------------------------------------------------------------------------------
def _sparsify_hook(name: str) -> dict[str, Any]:
    m = re.fullmatch(r"(?:model\.)?layers\.(\d+)(?:\.(\w+))?", name)
    if m and (m.group(2) or "") in _SPARSIFY_HOOKS:
        return {
            "layer": int(m.group(1)),
            "hook_point": _SPARSIFY_HOOKS[m.group(2) or ""],
            "source_hook_name": name,
        }
    return {"layer": None, "hook_point": "resid_post", "source_hook_name": name}


def load_sparsify(path: str | Path) -> SparseAutoencoder:
    """A sparsify SAE folder (``cfg.json`` + ``sae.safetensors``) as our class (topk or groupmax)."""
    path = Path(path)
    cfg, w = _read_folder(path, SPARSIFY_WEIGHTS)
    if cfg.get("transcode"):
        raise ValueError(f"{path}: sparsify transcoders are not supported, only SAEs")
    if cfg.get("skip_connection") or "W_skip" in w:
        raise ValueError(f"{path}: sparsify SAEs with a skip connection are not supported")
    if "W_dec" not in w:
        raise ValueError(f"{path}: no W_dec (a decoder-less sparsify checkpoint) is not supported")
    activation = cfg.get("activation", "topk")
    if activation not in ("topk", "groupmax"):
        raise ValueError(f"{path}: sparsify activation {activation!r} is not supported (topk, groupmax)")
    expected = {"encoder.weight", "encoder.bias", "W_dec", "b_dec"}
    if set(w) != expected:
        raise ValueError(
            f"{path}: tensors {sorted(w)}, expected {sorted(expected)}; unexpected: {sorted(set(w) - expected)}"
        )
    d_in = int(cfg["d_in"])
    d_sae = int(cfg.get("num_latents") or d_in * int(cfg.get("expansion_factor", 32)))
    meta = path.parent / "config.json"
    model_name = json.loads(meta.read_text()).get("model") if meta.exists() else None
    config = SAEConfig(
        d_in=d_in,
        d_sae=d_sae,
        architecture=activation,
        k=int(cfg["k"]),
        apply_b_dec_to_input=True,
        normalize_decoder=bool(cfg.get("normalize_decoder", True)),
        model_name=model_name,
        **_sparsify_hook(path.name),
    )
    enc = _oriented(w["encoder.weight"], d_sae, d_in, "encoder.weight")
    return _build(config, enc.T, w["encoder.bias"], w["W_dec"], w["b_dec"])


def load_sparsify_run(path: str | Path) -> dict[str, SparseAutoencoder]:
    """Every SAE of a sparsify run folder (one sub-folder per hooked module), keyed by module name."""
    path = Path(path)
    folders = sorted(p.parent for p in path.glob(f"*/{SPARSIFY_WEIGHTS}"))
    if not folders:
        raise FileNotFoundError(f"{path} has no sub-folder with {SPARSIFY_WEIGHTS}")
    key = lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]  # noqa: E731
    return {p.name: load_sparsify(p) for p in sorted(folders, key=key)}


def save_sparsify(sae: SparseAutoencoder, path: str | Path) -> Path:
    """Write a topk / groupmax ``sae`` as a sparsify folder; ``SparseCoder.load_from_disk`` reads it back.

    sparsify always subtracts ``b_dec`` from the input; an SAE with ``apply_b_dec_to_input=False`` is written
    with that folded into the encoder bias (``b_enc + b_dec @ W_enc``). Name the folder after the hooked module
    (``layers.6``) so sparsify's ``load_many`` and our loader find the hook.

    Args:
        sae: the SAE (topk or groupmax).
        path: the folder to write (created).
    """
    from safetensors.torch import save_file

    cfg = sae.config
    if cfg.architecture not in ("topk", "groupmax"):
        raise ValueError(f"sparsify has only topk and groupmax SAEs, this one is {cfg.architecture!r}")
    if cfg.normalize_activations != "none":
        raise ValueError(
            f"sparsify has no run-time input normalisation; this SAE uses {cfg.normalize_activations!r} "
            "(export it with save_saelens)"
        )
    if cfg.hook_point == "attn_z":
        raise ValueError(
            "sparsify hooks module outputs; attn_z is the output projection's input (use save_saelens)"
        )
    W_enc = sae.W_enc.detach().float().cpu()
    b_enc = sae.b_enc.detach().float().cpu()
    b_dec = sae.b_dec.detach().float().cpu()
    if not cfg.apply_b_dec_to_input:
        b_enc = b_enc + b_dec @ W_enc
    state = {
        "encoder.weight": W_enc.T.contiguous(),
        "encoder.bias": b_enc.contiguous(),
        "W_dec": sae.W_dec.detach().float().cpu().contiguous(),
        "b_dec": b_dec.contiguous(),
    }
    out = {
        "activation": cfg.architecture,
        "expansion_factor": max(1, cfg.d_sae // cfg.d_in),
        "normalize_decoder": cfg.normalize_decoder,
        "num_latents": cfg.d_sae,
        "k": cfg.k,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": cfg.d_in,
    }
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / SPARSIFY_WEIGHTS))
    (path / "cfg.json").write_text(json.dumps(out))
    return path


def load_sae(path: str | Path, **kwargs: Any) -> SparseAutoencoder:
    """Our format (``config.json``), SAELens (``sae_weights.safetensors``) or sparsify (``sae.safetensors``).

    Args:
        path: the SAE folder.
        kwargs: passed to ``load_saelens`` (``norm_scaling_factor``).
    """
    path = Path(path)
    if (path / "config.json").exists() and (path / "model.safetensors").exists():
        return SparseAutoencoder.from_pretrained(str(path))
    if (path / SAELENS_WEIGHTS).exists():
        return load_saelens(path, **kwargs)
    if (path / SPARSIFY_WEIGHTS).exists():
        return load_sparsify(path)
    if not path.exists():
        raise FileNotFoundError(f"no SAE at {path}")
    if any(path.glob(f"*/{SPARSIFY_WEIGHTS}")):
        raise ValueError(f"{path} is a sparsify run with one SAE per hook: use load_sparsify_run(path)")
    raise ValueError(
        f"{path} is not an SAE folder: expected model.safetensors + config.json (ours), "
        f"{SAELENS_WEIGHTS} (SAELens) or {SPARSIFY_WEIGHTS} (sparsify)"
    )
