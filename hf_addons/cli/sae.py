"""``hf-addons sae train|eval|features``: SAEs on a causal LM's activations (torch is imported per command)."""

from __future__ import annotations

import argparse
import json
import os


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="Hub id or local path (default: the embedded SmolLM2-135M)")
    p.add_argument("--texts", nargs="*", help="text files (.jsonl: one 'text' per line); stdin when omitted")
    p.add_argument("--context-size", type=int, default=128, help="tokens per text (default 128)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sae_command", metavar="ACTION")
    p = sub.add_parser("train", help="train an SAE on one hook point of a model")
    _model_args(p)
    p.add_argument("--layer", type=int, default=None, help="decoder layer (default: the middle one)")
    p.add_argument(
        "--hook-point",
        default="resid_post",
        choices=["resid_post", "resid_pre", "mlp_out", "attn_out", "attn_z"],
    )
    p.add_argument("--hook-name", default=None, help="explicit module name instead of --layer/--hook-point")
    p.add_argument(
        "--head-index", type=int, default=None, help="with --hook-point attn_z: one attention head's output"
    )
    p.add_argument(
        "--architecture", default="topk", choices=["topk", "batchtopk", "jumprelu", "relu", "groupmax"]
    )
    p.add_argument("--expansion-factor", type=int, default=8)
    p.add_argument("--d-sae", type=int, default=None, help="number of latents (overrides --expansion-factor)")
    p.add_argument("-k", "--k", type=int, default=32, help="active latents per token (TopK/BatchTopK)")
    p.add_argument("--tokens", type=int, default=1_000_000, help="training tokens (epochs over the texts)")
    p.add_argument("--batch-size", type=int, default=4096, help="tokens per step")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak lr (default: 2e-4/sqrt(d_sae/2^14), up to 8x on short TopK runs; warm-up, decay to 0)",
    )
    p.add_argument("--no-auxk", action="store_true", help="turn off the AuxK dead-latent loss")
    p.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps")
    p.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in --out")
    p.add_argument("--cache-activations", default=None, help="also save the activations as an Arrow dataset")
    p.add_argument(
        "--stream",
        action="store_true",
        help="stream activations through a shuffled buffer (LM forwards run ahead in a thread) instead of "
        "collecting them all in memory first; for corpora larger than memory",
    )
    p.add_argument("--out", required=True, help="output directory (save_pretrained format + model card)")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="L0, FVU, dead %% and CE loss recovered of an SAE")
    _model_args(p)
    p.add_argument("--sae", required=True, help="SAE folder: ours, SAELens or sparsify format")
    p.add_argument("--no-ce", action="store_true", help="skip the spliced-model CE/KL evaluation")
    p.set_defaults(func=_eval)

    p = sub.add_parser("features", help="top contexts and logit effect of chosen latents (JSON lines)")
    _model_args(p)
    p.add_argument("--sae", required=True, help="SAE folder: ours, SAELens or sparsify format")
    p.add_argument(
        "--latents", default=None, help="comma-separated latent ids (default: the 10 most frequent)"
    )
    p.add_argument("--top", type=int, default=10, help="contexts / tokens per latent")
    p.add_argument("--out", default=None, help="JSONL output file (default stdout)")
    p.set_defaults(func=_features)

    p = sub.add_parser("export", help="write an SAE in SAELens or sparsify format (loads in those libraries)")
    p.add_argument("--sae", required=True, help="SAE folder: ours, SAELens or sparsify format")
    p.add_argument("--to", required=True, choices=["saelens", "sparsify"])
    p.add_argument(
        "--out", required=True, help="output folder (sparsify: name it after the hook, e.g. layers.6)"
    )
    p.set_defaults(func=_export)


def _load(args: argparse.Namespace):
    from hf_addons.cli._util import read_texts
    from hf_addons.models import load_model

    texts = [t for t in read_texts(args.texts) if t.strip()]
    if not texts:
        raise ValueError("no input texts (empty files or stdin)")
    model, tokenizer = load_model(args.model, device=args.device, dtype=None)
    return model, tokenizer, texts


def _train(args: argparse.Namespace) -> int:
    import torch

    from hf_addons.interp import SAEConfig, SAETrainer, SAETrainingArguments, SparseAutoencoder
    from hf_addons.interp.activations import (
        cache_activations,
        collect_activations,
        resolve_hook,
        spec_width,
    )

    model, tokenizer, texts = _load(args)
    spec = resolve_hook(model, args.layer, args.hook_point, args.hook_name, args.head_index)
    hook = dict(
        layer=args.layer, hook_point=args.hook_point, hook_name=args.hook_name, head_index=args.head_index
    )
    if args.stream:
        if args.cache_activations:
            raise ValueError("--cache-activations needs the collected activations; drop --stream")
        from hf_addons.interp.activations import ActivationBuffer, ActivationStream

        device = next(model.parameters()).device
        # under torchrun each rank streams its own texts and reads its part of every global batch
        world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
        if world > 1 and args.batch_size % world:
            raise ValueError(f"--batch-size {args.batch_size} must be a multiple of the {world} ranks")
        shard = world > 1
        # as many passes over the texts as --tokens needs; seekable, so --resume continues mid-stream exactly
        stream = ActivationStream(
            model, tokenizer, texts[rank::world], repeat=True, context_size=args.context_size, **hook
        )
        acts = ActivationBuffer(stream, batch_size=args.batch_size // world, device=device, prefetch=2)
        d_in, n_acts = spec_width(model, spec), None
    else:
        acts = collect_activations(model, tokenizer, texts, context_size=args.context_size, **hook)
        if args.cache_activations:
            cache_activations(acts, args.cache_activations)
        d_in, n_acts, device = acts.shape[-1], acts.shape[0], acts.device
        shard = False
    config = SAEConfig(
        d_in=d_in,
        d_sae=args.d_sae,
        expansion_factor=args.expansion_factor,
        architecture=args.architecture,
        k=args.k,
        model_name=str(getattr(model.config, "name_or_path", "") or args.model or "default"),
        layer=spec.layer,
        hook_point=spec.hook_point,
        hook_name=spec.module_name,
        head_index=args.head_index,
    )
    torch.manual_seed(0)
    sae = SparseAutoencoder(config).to(device)
    targs = SAETrainingArguments(
        total_tokens=args.tokens,
        batch_size=args.batch_size if n_acts is None else min(args.batch_size, n_acts),
        lr=args.lr,
        auxk=not args.no_auxk,
        output_dir=args.out,
        save_steps=args.save_steps,
        shard_data=shard,
    )
    try:
        metrics = SAETrainer(sae, targs, acts).train(resume_from_checkpoint=True if args.resume else None)
    finally:
        if args.stream:
            acts.close()
    print(json.dumps({"out": args.out, "activations": n_acts, **metrics}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from hf_addons.interp import ce_loss_recovered, evaluate, load_sae
    from hf_addons.interp.activations import collect_activations, hook_for

    model, tokenizer, texts = _load(args)
    sae = load_sae(args.sae).to(next(model.parameters()).device)
    cfg = sae.config
    spec = hook_for(sae, model)  # refuses an SAE whose hook has no HF equivalent instead of guessing
    acts = collect_activations(
        model,
        tokenizer,
        texts,
        layer=spec.layer,
        hook_point=spec.hook_point,
        hook_name=spec.module_name,
        context_size=args.context_size,
    )
    if acts.shape[-1] != cfg.d_in:
        raise ValueError(f"the SAE has d_in={cfg.d_in} but the model's activations have d={acts.shape[-1]}")
    result = evaluate(sae, acts)
    if not args.no_ce:
        result.update(ce_loss_recovered(sae, model, tokenizer, texts, context_size=args.context_size))
    print(json.dumps(result))
    return 0


def _features(args: argparse.Namespace) -> int:
    from hf_addons.cli._util import write_jsonl
    from hf_addons.interp import load_sae, logit_effect, top_contexts

    model, tokenizer, texts = _load(args)
    sae = load_sae(args.sae).to(next(model.parameters()).device)
    if args.latents:
        try:
            latents = [int(x) for x in args.latents.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"--latents must be comma-separated integers, got {args.latents!r}") from None
        rows = top_contexts(
            sae, model, tokenizer, texts, latents, top_k=args.top, context_size=args.context_size
        )
    else:
        rows = top_contexts(
            sae, model, tokenizer, texts, None, top_k=args.top, context_size=args.context_size
        )
        rows = sorted(rows, key=lambda r: -r["frequency"])[:10]
    effects = {
        e["latent"]: e for e in logit_effect(sae, model, tokenizer, [r["latent"] for r in rows], args.top)
    }
    write_jsonl(
        (
            {
                **r,
                "positive_logits": effects[r["latent"]]["positive"],
                "negative_logits": effects[r["latent"]]["negative"],
            }
            for r in rows
        ),
        args.out,
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from hf_addons.interp import load_sae, save_saelens, save_sparsify

    sae = load_sae(args.sae)
    out = (save_saelens if args.to == "saelens" else save_sparsify)(sae, args.out)
    print(json.dumps({"out": str(out), "format": args.to, "architecture": sae.config.architecture}))
    return 0
