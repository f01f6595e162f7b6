"""Sparse autoencoders: ours vs the real sae-lens and eai-sparsify trainers on the same SmolLM2 activations.

Every tool trains a TopK SAE (same d_sae, k, batch size, token budget) on the same activations in the same batch
order, once at its own defaults and once at a matched recipe (our peak lr, warm-up and linear decay to 0):

- sae-lens: its ``SAETrainer`` + ``TopKTrainingSAE`` fed our batches through its ``data_provider`` (defaults:
  Adam lr 3e-4 constant, AuxK coefficient 1, ``rescale_acts_by_decoder_norm``, decoder init norm 0.1);
- eai-sparsify: its ``Trainer`` + ``SparseCoder`` on a replay "model" whose hooked module outputs our
  activations in our batch order (defaults: signum + schedule-free, lr 5e-3/sqrt(d_sae/2^14), AuxK off);
- ours: ``SAETrainer`` with its defaults.

Each trained SAE is saved in its tool's format and loaded with ``hf_addons.interp.load_sae`` (exact against the
real libraries, see ``tests/test_sae_interop.py``), then scored on held-out activations (FVU, L0, dead %) and on
held-out texts spliced into the real model (CE loss recovered). Throughput is training tokens per CPU-second
(``time.process_time`` around each tool's training call, one torch thread). Needs the anchors, so it runs in
their venv:

    PYTHONPATH=$PWD flock /tmp/hf-bench.lock nice /work/envs/saelens/bin/python benchmarks/bench_sae.py
    ... bench_sae.py --quick          # minutes: small token budget, one seed
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, article_truth, row, write_result  # noqa: E402

from hf_addons.interp import SAEConfig, SparseAutoencoder, evaluate, load_sae  # noqa: E402
from hf_addons.interp.trainer import default_lr  # noqa: E402

LAYER = 9


def _chunks(n_chunks: int, context: int) -> list[str]:
    """The shared news articles and licence texts cut into ~``context``-token pieces (4 characters per token),
    in a seeded shuffled order (the held-out split takes the last ones)."""
    bodies = [v["articleBody"] for v in article_truth().values()]
    lic = sorted((SHARED_DATA / "licenses").glob("*.txt"))
    bodies += [f.read_text(encoding="utf-8") for f in lic]
    chunks = [b[i : i + 4 * context] for b in bodies for i in range(0, len(b), 4 * context)]
    chunks = [c for c in chunks if len(c) > 100]
    perm = torch.randperm(len(chunks), generator=torch.Generator().manual_seed(0)).tolist()
    if n_chunks > len(chunks):
        raise SystemExit(f"only {len(chunks)} text chunks in the shared data, asked for {n_chunks}")
    return [chunks[i] for i in perm[:n_chunks]]


def collect(n_train_chunks: int, n_test_chunks: int, context: int):
    """Layer-9 residual activations of the embedded SmolLM2-135M: train chunks, then disjoint held-out chunks."""
    from hf_addons.interp import collect_activations
    from hf_addons.models import load_model

    model, tok = load_model(device="cpu", dtype=torch.float32)
    t0 = time.perf_counter()
    texts = _chunks(n_train_chunks + n_test_chunks, context)
    train_texts, test_texts = texts[:n_train_chunks], texts[n_train_chunks:]
    kw = dict(layer=LAYER, context_size=context, batch_size=16)
    train = collect_activations(model, tok, train_texts, **kw)
    test = collect_activations(model, tok, test_texts, **kw)
    return model, tok, train, test, test_texts, time.perf_counter() - t0


def batch_order(n_rows: int, tokens: int, batch: int, seed: int) -> torch.Tensor:
    """Row indices of every batch, (steps, batch): epochs of a seeded permutation, the same for every tool."""
    g = torch.Generator().manual_seed(seed)
    steps = tokens // batch
    need = steps * batch
    perm = torch.cat([torch.randperm(n_rows, generator=g) for _ in range(math.ceil(need / n_rows))])
    return perm[:need].reshape(steps, batch)


# -- the three trainers ----------------------------------------------------------------------------------------
def recipe(steps: int, d_sae: int) -> dict:
    """Our schedule, used as the matched recipe for the others: peak lr, 5% warm-up, linear decay over 20%."""
    return {
        "lr": default_lr(d_sae, steps),
        "warmup": min(1000, max(1, int(0.05 * steps))),
        "decay": int(0.2 * steps),
    }


def train_ours(acts, order, d_sae, k, seed, out: Path, matched: dict | None, bf16: bool | None = None):
    """Our defaults; ``bf16=False`` forces the fp32 encoder (the default picks the latents in bf16 where the CPU
    multiplies bf16 natively, then recomputes their values in fp32)."""
    from hf_addons.interp import SAETrainer, SAETrainingArguments

    torch.manual_seed(seed)
    sae = SparseAutoencoder(SAEConfig(d_in=acts.shape[1], d_sae=d_sae, k=k, layer=LAYER))
    args = SAETrainingArguments(
        total_tokens=order.numel(),
        batch_size=order.shape[1],
        seed=seed,
        progress=False,
        logging_steps=10**9,
        bf16=bf16,
    )
    t0 = time.process_time()
    SAETrainer(sae, args, (acts[idx] for idx in order)).train()
    cpu = time.process_time() - t0
    sae.save_pretrained(out)
    return out, cpu


def train_saelens(acts, order, d_sae, k, seed, out: Path, matched: dict | None):
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.sae import SAEMetadata
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(seed)
    meta = SAEMetadata(model_name="SmolLM2-135M-Instruct", hook_name=f"blocks.{LAYER}.hook_resid_post")
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=acts.shape[1], d_sae=d_sae, k=k, metadata=meta))
    steps, batch = order.shape
    kw = {}
    if matched:
        kw = dict(lr=matched["lr"], lr_warm_up_steps=matched["warmup"], lr_decay_steps=matched["decay"])
    cfg = SAETrainerConfig(
        total_training_samples=steps * batch,
        train_batch_size_samples=batch,
        lr_end=(kw.get("lr") or 3e-4) / 10,  # the runner config's default
        **kw,
    )
    trainer = SAETrainer(cfg, sae, (acts[idx] for idx in order))
    t0 = time.process_time()
    trainer.fit()
    cpu = time.process_time() - t0
    sae.save_inference_model(out)
    return out, cpu


class _Replay(torch.nn.Module):
    """A stand-in "model" for sparsify's Trainer: ``input_ids`` are row numbers, ``layers.0`` outputs those rows."""

    def __init__(self, acts: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(acts, requires_grad=False)
        self.layers = torch.nn.ModuleList([torch.nn.Identity()])
        self.config = type("Cfg", (), {"num_hidden_layers": 1})()

    @property
    def base_model(self):
        return self

    @property
    def device(self):
        return self.table.device

    @property
    def dummy_inputs(self):
        return {"input_ids": torch.zeros(1, 4, dtype=torch.long)}

    def forward(self, input_ids, **_):
        return self.layers[0](self.table[input_ids])


def train_sparsify(acts, order, d_sae, k, seed, out: Path, matched: dict | None):
    from datasets import Dataset
    from sparsify import SparseCoderConfig, TrainConfig, Trainer

    steps, batch = order.shape
    seq = 64  # sparsify batches are sequences: batch // seq rows of seq tokens, in our order
    ds = Dataset.from_dict({"input_ids": order.reshape(-1, seq).tolist()}).with_format("torch")
    kw = {}
    if matched:
        kw = dict(optimizer="adam", lr=matched["lr"], lr_warmup_steps=matched["warmup"], auxk_alpha=1 / 32)
    cfg = TrainConfig(
        SparseCoderConfig(num_latents=d_sae, k=k),
        batch_size=batch // seq,
        hookpoints=["layers.0"],
        init_seeds=[seed],
        log_to_wandb=False,
        save_every=10**9,
        save_dir=str(out.parent / f"{out.name}-ckpt"),
        **kw,
    )
    trainer = Trainer(cfg, ds, _Replay(acts))
    t0 = time.process_time()
    trainer.fit()
    cpu = time.process_time() - t0
    trainer.saes["layers.0"].save_to_disk(out / f"layers.{LAYER}")
    return out / f"layers.{LAYER}", cpu


def train_ours_fp32(acts, order, d_sae, k, seed, out: Path, matched: dict | None):
    return train_ours(acts, order, d_sae, k, seed, out, matched, bf16=False)


TOOLS = {
    "ours": train_ours,
    "ours-fp32": train_ours_fp32,
    "sae-lens": train_saelens,
    "sparsify": train_sparsify,
}


def score(folder: Path, test, model, tok, test_texts, context, with_ce: bool) -> dict:
    from hf_addons.interp import ce_loss_recovered

    sae = load_sae(folder)
    sae.config.layer, sae.config.hook_point, sae.config.hook_name = LAYER, "resid_post", None
    m = evaluate(sae, test)
    r = {key: m[key] for key in ("fvu", "l0", "dead_fraction", "explained_variance")}
    if with_ce:
        ce = ce_loss_recovered(sae, model, tok, test_texts, context_size=context, batch_size=8)
        r.update({key: ce[key] for key in ("ce_loss_recovered", "ce_clean", "ce_sae", "kl_div")})
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small budget, one seed, no CE")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (init and batch order)")
    p.add_argument("--tokens", type=int, default=None, help="training tokens per run (default 150k)")
    p.add_argument("--tools", default="ours,ours-fp32,sae-lens,sparsify")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", default=None, help="save / reuse the collected activations in this .pt file")
    p.add_argument("--ce-texts", type=int, default=32, help="held-out texts spliced for CE loss recovered")
    p.add_argument(
        "--skip-ce", action="store_true", help="no CE loss recovered for these seeds (FVU, L0, dead still)"
    )
    p.add_argument(
        "--merge", default=None, help="add this run's seeds to an earlier JSON of the same setting"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import warnings

    warnings.filterwarnings("ignore")
    context = 128
    n_train, n_test = (60, 12) if args.quick else (1240, 130)
    d_sae, k, batch = (1152, 32, 512) if args.quick else (2304, 32, 512)
    tokens = args.tokens or (20_000 if args.quick else 150_000)
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    tools = args.tools.split(",")
    with_ce = not args.quick and not args.skip_ce

    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():  # the same activations for a later run (e.g. another seed)
        from hf_addons.models import load_model

        model, tok = load_model(device="cpu", dtype=torch.float32)
        saved = torch.load(cache, weights_only=False)
        train, test, test_texts, collect_s = (
            saved["train"],
            saved["test"],
            saved["test_texts"],
            saved["collect_s"],
        )
    else:
        model, tok, train, test, test_texts, collect_s = collect(n_train, n_test, context)
        if cache is not None:
            torch.save(
                {"train": train, "test": test, "test_texts": test_texts, "collect_s": collect_s}, cache
            )
    ce_texts = test_texts[: args.ce_texts]
    print(
        f"activations: train {tuple(train.shape)}, held-out {tuple(test.shape)} in {collect_s:.0f}s",
        flush=True,
    )
    steps = tokens // batch
    matched = recipe(steps, d_sae)
    import importlib.metadata as md

    payload: dict = {
        "setting": {
            "model": "SmolLM2-135M-Instruct (embedded)",
            "layer": LAYER,
            "hook": "resid_post",
            "train_tokens_available": train.shape[0],
            "heldout_tokens": test.shape[0],
            "heldout_texts": len(test_texts),
            "ce_texts": len(ce_texts),
            "d_sae": d_sae,
            "k": k,
            "batch": batch,
            "train_tokens": steps * batch,
            "steps": steps,
            "seeds": seeds,
            "ce_seeds": seeds if with_ce else [],
            "threads": args.threads,
            "matched_recipe": matched,
            "versions": {
                "torch": torch.__version__,
                "sae-lens": md.version("sae-lens"),
                "eai-sparsify": md.version("eai-sparsify"),
            },
            "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()},
        },
        "runs": {},
    }
    runs: dict[str, list[dict]] = {}
    if args.merge:  # seeds of an earlier run of the same setting (same activations via --cache)
        import json

        prev = json.loads(Path(args.merge).read_text())["results"]
        for key in ("d_sae", "k", "batch", "train_tokens", "heldout_tokens", "ce_texts"):
            if prev["setting"].get(key) != payload["setting"].get(key):
                raise SystemExit(
                    f"--merge: {key} differs ({prev['setting'].get(key)} vs {payload['setting'][key]})"
                )
        for seed, per_tool in prev["runs"].items():
            payload["runs"][seed] = per_tool
            for key, r in per_tool.items():
                runs.setdefault(key, []).append(r)
        payload["setting"]["seeds"] = sorted({*map(int, prev["runs"]), *seeds})
        prev_ce = prev["setting"].get("ce_seeds", prev["setting"]["seeds"])
        payload["setting"]["ce_seeds"] = sorted({*prev_ce, *payload["setting"]["ce_seeds"]})
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            order = batch_order(train.shape[0], steps * batch, batch, seed)
            for tool in tools:
                for variant in ("defaults", "matched"):
                    if tool.startswith("ours") and variant == "matched":
                        continue  # our defaults are the matched recipe
                    key = f"{tool} ({variant})" if not tool.startswith("ours") else OURS_KEYS[tool]
                    out = Path(tmp) / f"{tool}-{variant}-{seed}"
                    folder, cpu = TOOLS[tool](
                        train, order, d_sae, k, seed, out, matched if variant == "matched" else None
                    )
                    r = score(folder, test, model, tok, ce_texts, context, with_ce)
                    r.update(
                        {"cpu_s": cpu, "tok_per_cpu_s": steps * batch / cpu, "loadavg": os.getloadavg()[0]}
                    )
                    runs.setdefault(key, []).append(r)
                    payload["runs"].setdefault(str(seed), {})[key] = r
                    print(
                        f"seed {seed} {key}: " + ", ".join(f"{a}={b:.4g}" for a, b in r.items()), flush=True
                    )
            _summarise(payload, runs, k, payload["setting"]["seeds"], args.quick)


OURS_KEYS = {"ours": "ours (defaults)", "ours-fp32": "ours (fp32 encoder)"}


def _welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch t-test p-value (None with fewer than 2 runs a side)."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy.stats import ttest_ind

    return float(ttest_ind(a, b, equal_var=False).pvalue)


def _summarise(payload: dict, runs: dict[str, list[dict]], k: int, seeds: list[int], quick: bool) -> None:
    def stat(key: str, metric: str) -> tuple[float, float]:
        v = torch.tensor([r[metric] for r in runs[key] if metric in r], dtype=torch.float64)
        if not len(v):
            return float("nan"), float("nan")
        return float(v.mean()), float(v.std()) if len(v) > 1 else 0.0

    metrics = ("fvu", "l0", "dead_fraction", "ce_loss_recovered", "tok_per_cpu_s")
    payload["mean_std"] = {key: {m: stat(key, m) for m in metrics} for key in runs}
    ours = "ours (defaults)"
    summary = []
    n = len(runs.get(ours, []))
    fp32 = OURS_KEYS["ours-fp32"]
    payload["fvu_welch_p"] = {}
    for key in runs:
        if key.startswith("ours") or not n:
            continue
        o_fvu, o_std = stat(ours, "fvu")
        b_fvu, b_std = stat(key, "fvu")
        p_value = _welch_p([r["fvu"] for r in runs[ours]], [r["fvu"] for r in runs[key]])
        payload["fvu_welch_p"][key] = p_value
        p_text = "" if p_value is None else f", Welch p={p_value:.2g}"
        summary.append(
            row(
                "sae",
                f"held-out FVU at k={k} (mean of {n} seeds; std ours {o_std:.4f}, anchor {b_std:.4f}{p_text})",
                anchor=key,
                anchor_value=b_fvu,
                ours=o_fvu,
                ratio=b_fvu / o_fvu,
                unit="FVU (lower is better)",
                target="equal or better at the matched recipe",
                met=o_fvu <= b_fvu + max(o_std, b_std) if "matched" in key else None,
                digits=4,
            )
        )
        o_tp, b_tp = stat(ours, "tok_per_cpu_s")[0], stat(key, "tok_per_cpu_s")[0]
        summary.append(
            row(
                "sae",
                "training tokens per CPU-second",
                anchor=key,
                anchor_value=b_tp,
                ours=o_tp,
                ratio=o_tp / b_tp,
                unit="tok/CPU-s",
                target=">= 4x sae-lens" if key.startswith("sae-lens") else "report",
                met=o_tp >= 4 * b_tp if key.startswith("sae-lens") else None,
            )
        )
        if fp32 in runs:
            f_tp = stat(fp32, "tok_per_cpu_s")[0]
            summary.append(
                row(
                    "sae",
                    "training tokens per CPU-second, ours with the fp32 encoder",
                    anchor=key,
                    anchor_value=b_tp,
                    ours=f_tp,
                    ratio=f_tp / b_tp,
                    unit="tok/CPU-s",
                    target="report",
                    met=None,
                )
            )
        for metric, label in (
            ("dead_fraction", "dead latents, held-out (%)"),
            ("ce_loss_recovered", "CE loss recovered"),
        ):
            scale = 100 if metric == "dead_fraction" else 1
            summary.append(
                row(
                    "sae",
                    label,
                    anchor=key,
                    anchor_value=scale * stat(key, metric)[0],
                    ours=scale * stat(ours, metric)[0],
                    unit="%" if scale == 100 else "fraction",
                    target="< 1%" if scale == 100 else "report",
                    met=(max(r["dead_fraction"] for r in runs[ours]) < 0.01) if scale == 100 else None,
                    digits=4,
                )
            )
    payload["setting"]["machine"]["loadavg_end"] = os.getloadavg()
    write_result("sae" + ("-quick" if quick else ""), payload, summary)


if __name__ == "__main__":
    main()
