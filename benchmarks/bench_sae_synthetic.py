"""Synthetic ground truth: recovered-feature MCC of ours vs SAELens-style and sparsify-style training.

Known sparse features (more than dimensions) are mixed into a dense space; each recipe trains on the same
activations with the same init, batches and k (ours through ``SAETrainer`` with its default lr and schedule),
then each true feature is matched to a learned decoder direction (Hungarian) and the mean cosine (MCC) is
reported. Target: ours >= 0.9 at the default settings.

    python benchmarks/bench_sae_synthetic.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import row, write_result  # noqa: E402
from bench_sae import Ours, SAELensStyle, SparsifyStyle, train_eval  # noqa: E402

from hf_addons.interp import feature_mcc, make_synthetic  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    d_in, n_feat, d_sae, k = (32, 128, 256, 8) if args.quick else (64, 512, 1024, 8)
    tokens = 100_000 if args.quick else 600_000
    data = make_synthetic(n_tokens=120_000, d_in=d_in, n_features=n_feat, mean_active=4, seed=0)
    acts = data.activations.to(device)
    train, test = acts[:100_000], acts[100_000:]
    results = {}
    for cls in (SAELensStyle, SparsifyStyle, Ours):
        m = cls(d_in, d_sae, k, device)
        metrics = train_eval(m, train, test, tokens, 1024)
        metrics["mcc"] = feature_mcc(m.sae.W_dec, data.features)
        results[m.name] = metrics
        print(
            f"  {m.name}: mcc={metrics['mcc']:.4f} fvu={metrics['fvu']:.4f} dead={metrics['dead_fraction']:.4f}"
        )
    ours = results[Ours.name]
    summary = [
        row(
            "sae",
            f"synthetic MCC ({n_feat} features in {d_in}-d, {d_sae} latents, k={k})",
            anchor=name,
            anchor_value=r["mcc"],
            ours=ours["mcc"],
            ratio=ours["mcc"] / r["mcc"],
            unit="MCC",
            target=">= 0.9",
            met=ours["mcc"] >= 0.9,
            digits=4,
        )
        for name, r in results.items()
        if name != Ours.name
    ]
    write_result(
        "sae_synthetic" + ("-quick" if args.quick else ""),
        {
            "setting": {"d_in": d_in, "n_features": n_feat, "d_sae": d_sae, "k": k, "tokens": tokens},
            "results": results,
        },
        summary,
    )


if __name__ == "__main__":
    main()
