"""Train a sparse autoencoder on a causal LM's residual stream, evaluate it, and inspect a few latents.

python examples/sae_train_and_inspect.py            # the embedded SmolLM2-135M, layer 15
python examples/sae_train_and_inspect.py --tiny     # a tiny random model, seconds
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from hf_addons.interp import (
    SAEConfig,
    SAETrainer,
    SAETrainingArguments,
    SparseAutoencoder,
    ce_loss_recovered,
    collect_activations,
    evaluate,
    generate_steered,
    logit_effect,
    top_contexts,
)

TEXTS = [
    "The cat sat on the mat and looked out of the window at the birds in the garden.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "In 1969 the first humans walked on the Moon during the Apollo 11 mission.",
    "Bananas, apples and oranges are sold at the market every Saturday morning.",
    "The stock market fell sharply on Monday after the central bank raised interest rates.",
    "She played the violin beautifully at the concert hall last night.",
    "Water boils at one hundred degrees Celsius at sea level.",
] * 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random model (smoke test)")
    parser.add_argument("--layer", type=int, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.tiny:
        from hf_addons.models import load_tokenizer
        from hf_addons.testing import tiny_causal_lm

        torch.set_num_threads(1)  # tiny ops gain nothing from threads, and lose a lot on a busy machine
        tokenizer = load_tokenizer()
        model = tiny_causal_lm("llama", tokenizer=tokenizer)
        layer, tokens, expansion = 1, 10_000, 4
    else:
        from hf_addons.models import load_model

        model, tokenizer = load_model(device="cpu")
        layer, tokens, expansion = (args.layer if args.layer is not None else 15), 400_000, 8

    # 1. activations of the residual stream after `layer` (the forward stops right there)
    acts = collect_activations(model, tokenizer, TEXTS, layer=layer, context_size=64)
    print(f"activations: {tuple(acts.shape)}")

    # 2. a TopK SAE, trained with AuxK, unit-norm decoder and geometric-median pre-bias
    config = SAEConfig(
        d_in=acts.shape[1], expansion_factor=expansion, k=16, layer=layer, model_name="example"
    )
    sae = SparseAutoencoder(config)
    out_dir = tempfile.mkdtemp(prefix="sae-example-")
    train_args = SAETrainingArguments(total_tokens=tokens, batch_size=512, output_dir=out_dir, progress=False)
    SAETrainer(sae, train_args, acts).train()
    print("eval:", {k: round(v, 4) for k, v in evaluate(sae, acts).items()})
    print(
        "spliced:", {k: round(v, 4) for k, v in ce_loss_recovered(sae, model, tokenizer, TEXTS[:8]).items()}
    )
    print(f"saved to {out_dir} (model card in README.md)")

    # 3. inspect the most frequent latent: top contexts, logit effect, steering
    rows = top_contexts(sae, model, tokenizer, TEXTS[:8], top_k=3, context_size=64)
    latent = max(rows, key=lambda r: r["frequency"])["latent"]
    for c in next(r for r in rows if r["latent"] == latent)["contexts"]:
        print(f"latent {latent} {c['activation']:.2f}: {c['context']!r}")
    (effect,) = logit_effect(sae, model, tokenizer, latent, top_k=5)
    print("promotes:", [t for t, _ in effect["positive"]])
    print(
        "steered:",
        repr(generate_steered(model, tokenizer, sae, "Today I", latent, strength=8.0, max_new_tokens=12)),
    )


if __name__ == "__main__":
    main()
