"""Interop with the real SAELens and sparsify: write small checkpoints with them, check our loaders and exports.

Runs in a venv with the anchors installed (``sae-lens`` 6.x, ``eai-sparsify``), never in CI:

    PYTHONPATH=$PWD /work/envs/saelens/bin/python tools/sae_interop.py fixtures   # rewrite tests/fixtures/sae
    PYTHONPATH=$PWD /work/envs/saelens/bin/python tools/sae_interop.py hook-z-fixture   # add that one folder
    PYTHONPATH=$PWD /work/envs/saelens/bin/python tools/sae_interop.py check      # both directions, live

``fixtures`` saves one folder per checkpoint kind, each written by the real library (``save_model`` = training
checkpoint, ``save_inference_model`` = inference format, sparsify's ``save_to_disk``), plus ``expected.safetensors``:
fixed inputs ``x`` and what the real library computes from them (dense ``acts`` and ``recon``). The CI tests
(``tests/test_sae_interop.py``) load each folder with our loader and compare, so exactness is checked without
the anchors installed. ``check`` repeats that live and also exports SAEs trained here to both formats and loads
them with the real libraries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "sae"
D_IN, D_SAE, K, N = 8, 32, 4, 12
META = {"model_name": "SmolLM2-135M-Instruct", "hook_name": "blocks.3.hook_resid_pre"}


def _inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    return torch.randn(N, D_IN, generator=g) * 2.0 + 0.5


@torch.no_grad()
def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Random weights with non-unit decoder norms and non-zero biases, so every flag changes the output."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if p.dtype.is_floating_point:
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if "b_" in name or "bias" in name else 1.0))
    if hasattr(module, "W_dec") and module.W_dec is not None:
        scale = 0.3 + 2.0 * torch.rand(module.W_dec.shape[0], 1, generator=g)
        module.W_dec.mul_(scale / module.W_dec.norm(dim=-1, keepdim=True))


def _saelens_expected(sae, x: torch.Tensor, scaler=None) -> dict[str, torch.Tensor]:
    sae.eval()
    with torch.no_grad():
        xs = scaler.scale(x) if scaler is not None else x
        acts = sae.encode(xs)
        if acts.is_sparse:
            acts = acts.to_dense()
        recon = sae.decode(acts)
        if scaler is not None:
            recon = scaler.unscale(recon)
    return {"x": x, "acts": acts.contiguous(), "recon": recon.contiguous()}


def _write(folder: Path, expected: dict[str, torch.Tensor], note: str) -> None:
    save_file({k: v.contiguous() for k, v in expected.items()}, str(folder / "expected.safetensors"))
    (folder / "FIXTURE.md").write_text(note + "\n")
    print(f"{folder.relative_to(ROOT)}: {note}")


def saelens_fixtures(out: Path) -> None:
    import sae_lens
    from sae_lens import SAE, TrainingSAE
    from sae_lens.saes.sae import SAEMetadata
    from sae_lens.training.activation_scaler import ActivationScaler

    x = _inputs()
    version = sae_lens.__version__

    def meta():
        return SAEMetadata(**META)

    def inference_roundtrip(folder: Path):
        return SAE.load_from_disk(folder)

    seed = 0

    def make(train_cfg_cls, kind: str, **kw):
        nonlocal seed
        seed += 1
        cfg = train_cfg_cls(d_in=D_IN, d_sae=D_SAE, metadata=meta(), **kw)
        sae = TrainingSAE.get_sae_class_for_architecture(cfg.architecture())(cfg)
        _randomise(sae, seed)
        if hasattr(sae, "threshold"):
            with torch.no_grad():
                sae.threshold.copy_(torch.rand(D_SAE, generator=torch.Generator().manual_seed(seed)) * 0.8)
        if hasattr(sae, "topk_threshold"):
            sae.topk_threshold = torch.tensor(0.6)
        return sae

    from sae_lens import (
        BatchTopKTrainingSAEConfig,
        GatedTrainingSAEConfig,
        JumpReLUTrainingSAEConfig,
        StandardTrainingSAEConfig,
        TopKTrainingSAEConfig,
    )
    from sae_lens.saes.matryoshka_batchtopk_sae import MatryoshkaBatchTopKTrainingSAEConfig

    cases = [
        ("standard", StandardTrainingSAEConfig, {}),
        ("standard_no_bdec", StandardTrainingSAEConfig, {"apply_b_dec_to_input": False}),
        ("topk", TopKTrainingSAEConfig, {"k": K, "rescale_acts_by_decoder_norm": False}),
        ("topk_rescale", TopKTrainingSAEConfig, {"k": K, "rescale_acts_by_decoder_norm": True}),
        ("topk_no_bdec", TopKTrainingSAEConfig, {"k": K, "apply_b_dec_to_input": False}),
        ("batchtopk", BatchTopKTrainingSAEConfig, {"k": K}),
        ("batchtopk_norescale", BatchTopKTrainingSAEConfig, {"k": K, "rescale_acts_by_decoder_norm": False}),
        (
            "matryoshka_batchtopk",
            MatryoshkaBatchTopKTrainingSAEConfig,
            {"k": K, "matryoshka_widths": [8, 16, D_SAE]},
        ),
        ("jumprelu", JumpReLUTrainingSAEConfig, {}),
        ("gated", GatedTrainingSAEConfig, {}),
    ]
    for name, cfg_cls, kw in cases:
        sae = make(cfg_cls, name, **kw)
        # training checkpoint, as SAETrainer.save_checkpoint writes it (save_model)
        train_dir = out / f"saelens_{name}_training"
        sae.save_model(train_dir)
        # the inference format (save_inference_model), loaded back by SAELens itself
        inf_dir = out / f"saelens_{name}_inference"
        sae.save_inference_model(inf_dir)
        inference = inference_roundtrip(inf_dir)
        exp = _saelens_expected(inference, x)
        note = f"sae-lens {version}: {cfg_cls.__name__}({kw}) with random weights (non-unit decoder norms)"
        _write(
            inf_dir, exp, note + "; inference format (save_inference_model); expected = SAE.load_from_disk"
        )
        if name.startswith(("batchtopk", "matryoshka")):
            # a batch-level top-k in training; SAELens's inference conversion is the JumpReLU threshold
            _write(train_dir, exp, note + "; training checkpoint (save_model); expected = its inference form")
        else:
            train_exp = _saelens_expected(TrainingSAE.load_from_disk(train_dir), x)
            _write(train_dir, train_exp, note + "; training checkpoint (save_model); expected = TrainingSAE")

    # a mid-run checkpoint with the activation scaler not folded yet (normalize_activations=expected_average_only_in)
    sae = make(TopKTrainingSAEConfig, "scaled", k=K, normalize_activations="expected_average_only_in")
    folder = out / "saelens_topk_scaled_training"
    sae.save_model(folder)
    scaler = ActivationScaler(scaling_factor=0.37)
    scaler.save(str(folder / "activation_scaler.json"))
    exp = _saelens_expected(TrainingSAE.load_from_disk(folder), x, scaler=scaler)
    _write(
        folder,
        exp,
        f"sae-lens {version}: TopK training checkpoint with normalize_activations=expected_average_only_in and "
        "activation_scaler.json (factor 0.37); expected = scaler.unscale(sae(scaler.scale(x)))",
    )

    # per-token normalisation, computed at run time (not a fixed affine map of the weights)
    for norm in ("layer_norm", "constant_norm_rescale"):
        sae = make(TopKTrainingSAEConfig, norm, k=K, normalize_activations=norm)
        folder = out / f"saelens_topk_{norm}_inference"
        sae.save_inference_model(folder)
        _write(
            folder,
            _saelens_expected(SAE.load_from_disk(folder), x),
            f"sae-lens {version}: TopK with normalize_activations={norm}",
        )


def saelens_hook_z_fixture(out: Path) -> None:
    """Attention SAEs on ``blocks.3.attn.hook_z``: all heads (2 x 4; SAELens takes (..., n_heads, d_head)
    inputs), and one head (``hook_head_index``)."""
    import sae_lens
    from sae_lens import SAE, TopKTrainingSAEConfig, TrainingSAE
    from sae_lens.saes.sae import SAEMetadata

    x = _inputs()
    cfg = TopKTrainingSAEConfig(
        d_in=D_IN,
        d_sae=D_SAE,
        k=K,
        reshape_activations="hook_z",
        metadata=SAEMetadata(model_name=META["model_name"], hook_name="blocks.3.attn.hook_z"),
    )
    sae = TrainingSAE.get_sae_class_for_architecture(cfg.architecture())(cfg)
    _randomise(sae, 21)
    folder = out / "saelens_topk_hook_z_inference"
    sae.save_inference_model(folder)
    theirs = SAE.load_from_disk(folder).eval()
    with torch.no_grad():
        acts = theirs.encode(x.reshape(N, 2, D_IN // 2))
        recon = theirs.decode(acts).reshape(N, D_IN)
    _write(
        folder,
        {"x": x, "acts": acts.contiguous(), "recon": recon.contiguous()},
        f"sae-lens {sae_lens.__version__}: TopK on blocks.3.attn.hook_z (reshape_activations=hook_z), inference "
        "format; expected = SAE.load_from_disk on x viewed as (N, 2 heads, 4), outputs flattened",
    )
    # one head (hook_head_index): the SAE reads that head's d_head values as they are
    cfg = TopKTrainingSAEConfig(
        d_in=D_IN,
        d_sae=D_SAE,
        k=K,
        metadata=SAEMetadata(
            model_name=META["model_name"], hook_name="blocks.3.attn.hook_z", hook_head_index=1
        ),
    )
    sae = TrainingSAE.get_sae_class_for_architecture(cfg.architecture())(cfg)
    _randomise(sae, 22)
    folder = out / "saelens_topk_head_inference"
    sae.save_inference_model(folder)
    _write(
        folder,
        _saelens_expected(SAE.load_from_disk(folder), x),
        f"sae-lens {sae_lens.__version__}: TopK on head 1 of blocks.3.attn.hook_z (hook_head_index=1, d_in = "
        "d_head), inference format; expected = SAE.load_from_disk",
    )


def sparsify_fixtures(out: Path) -> None:
    from importlib.metadata import version

    from sparsify import SparseCoder, SparseCoderConfig

    x = _inputs()
    v = version("eai-sparsify")
    run = out / "sparsify_run"
    for i, (hook, activation) in enumerate((("layers.2", "topk"), ("layers.5", "groupmax"))):
        sae = SparseCoder(D_IN, SparseCoderConfig(activation=activation, num_latents=D_SAE, k=K))
        _randomise(sae, 100 + i)
        folder = run / hook
        sae.save_to_disk(folder)
        with torch.no_grad():
            enc = sae.encode(x)
            acts = torch.zeros(N, D_SAE).scatter_(-1, enc.top_indices, enc.top_acts)
            recon = sae.decode(enc.top_acts, enc.top_indices)
        _write(
            folder,
            {"x": x, "acts": acts, "recon": recon},
            f"eai-sparsify {v}: SparseCoder(activation={activation}, num_latents={D_SAE}, k={K}) random weights; "
            "expected = encode/decode",
        )
    (run / "config.json").write_text(json.dumps({"model": "HuggingFaceTB/SmolLM2-135M-Instruct"}))


# -- live checks -----------------------------------------------------------------------------------------------
def _close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def check() -> int:
    """Both directions, live: fixtures through our loader, and our SAEs exported and loaded by the real libraries."""
    import tempfile

    from sae_lens import SAE
    from safetensors.torch import load_file
    from sparsify import SparseCoder

    from hf_addons.interp import SAEConfig, SparseAutoencoder, load_sae
    from hf_addons.interp.convert import save_saelens, save_sparsify

    worst = 0.0
    rows = []
    for folder in sorted(p.parent for p in FIXTURES.glob("**/expected.safetensors")):
        exp = load_file(str(folder / "expected.safetensors"))
        try:
            sae = load_sae(folder)
        except ValueError as e:
            rows.append((folder.name, "refused", str(e)[:80]))
            continue
        with torch.no_grad():
            acts = sae.encode(exp["x"])
            err = max(_close(acts, exp["acts"]), _close(sae.decode(acts), exp["recon"]))
        worst = max(worst, err)
        rows.append((folder.name, "loaded", f"max abs err {err:.2e}"))
    x = _inputs()
    for arch in ("topk", "batchtopk", "jumprelu", "relu", "groupmax"):
        torch.manual_seed(0)
        sae = SparseAutoencoder(
            SAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, architecture=arch, layer=3, hook_point="resid_pre")
        ).eval()
        _randomise(sae, 7)
        if arch == "jumprelu":
            with torch.no_grad():
                sae.log_threshold.copy_((torch.rand(D_SAE) * 0.8).log())
        if arch == "batchtopk":
            with torch.no_grad():
                sae.threshold.fill_(0.6)
        with torch.no_grad():
            ours_acts = sae.encode(x)
            ours = sae.decode(ours_acts)
        with tempfile.TemporaryDirectory() as tmp:
            if arch != "groupmax":
                save_saelens(sae, tmp)
                theirs = SAE.load_from_disk(tmp)
                with torch.no_grad():
                    t_acts = theirs.encode(x)
                    err = max(_close(t_acts, ours_acts), _close(theirs.decode(t_acts), ours))
                back = load_sae(tmp)
                with torch.no_grad():
                    err = max(err, _close(back.decode(back.encode(x)), ours))
                worst = max(worst, err)
                rows.append((f"ours {arch} -> SAELens -> ours", "loaded", f"max abs err {err:.2e}"))
            if arch in ("topk", "groupmax"):
                save_sparsify(sae, Path(tmp) / "sp" / "layers.3")
                theirs = SparseCoder.load_from_disk(Path(tmp) / "sp" / "layers.3")
                with torch.no_grad():
                    enc = theirs.encode(x)
                    recon = theirs.decode(enc.top_acts, enc.top_indices)
                back = load_sae(Path(tmp) / "sp" / "layers.3")
                with torch.no_grad():
                    err = max(_close(recon, ours), _close(back.decode(back.encode(x)), ours))
                worst = max(worst, err)
                rows.append((f"ours {arch} -> sparsify -> ours", "loaded", f"max abs err {err:.2e}"))

    def into_saelens(config: SAEConfig, seed: int, shape: tuple[int, ...]) -> float:
        """Our SAE of ``config`` exported and run by SAELens on ``x`` viewed as ``shape``: max abs difference."""
        torch.manual_seed(0)
        sae = SparseAutoencoder(config).eval()
        _randomise(sae, seed)
        with torch.no_grad():
            ours_acts = sae.encode(x)
            ours = sae.decode(ours_acts)
        with tempfile.TemporaryDirectory() as tmp:
            save_saelens(sae, tmp)
            theirs = SAE.load_from_disk(tmp)
            with torch.no_grad():
                t_acts = theirs.encode(x.reshape(shape))
                return max(_close(t_acts, ours_acts), _close(theirs.decode(t_acts).reshape(N, D_IN), ours))

    base = dict(d_in=D_IN, d_sae=D_SAE, k=K, layer=3)
    for norm in ("layer_norm", "constant_norm_rescale"):  # per-token normalisation, SAELens computes it too
        err = into_saelens(
            SAEConfig(**base, hook_point="resid_pre", normalize_activations=norm), 11, (N, D_IN)
        )
        worst = max(worst, err)
        rows.append((f"ours topk {norm} -> SAELens", "loaded", f"max abs err {err:.2e}"))
    # an attention (hook_z) SAE: SAELens reads (..., n_heads, d_head), ours the heads concatenated
    err = into_saelens(SAEConfig(**base, hook_point="attn_z"), 13, (N, 2, D_IN // 2))
    worst = max(worst, err)
    rows.append(("ours topk attn_z -> SAELens hook_z", "loaded", f"max abs err {err:.2e}"))
    for r in rows:
        print(" | ".join(r))
    print(f"worst max abs error over everything loaded: {worst:.2e}")
    return 0 if worst < 1e-4 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["fixtures", "hook-z-fixture", "check"])
    args = p.parse_args()
    if args.action == "fixtures":
        if FIXTURES.exists():
            shutil.rmtree(FIXTURES)
        FIXTURES.mkdir(parents=True)
        saelens_fixtures(FIXTURES)
        saelens_hook_z_fixture(FIXTURES)
        sparsify_fixtures(FIXTURES)
        return 0
    if args.action == "hook-z-fixture":  # adds that one folder, leaving the others as they are
        saelens_hook_z_fixture(FIXTURES)
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
