"""Sparse autoencoder: training-step throughput, quality at matched L0, and activation extraction.

Anchors, side by side in one process (re-implemented here as in their code, so no extra installs):
- SAELens-style TopK step: dense encoder, TopK scattered into a dense N x d_sae matrix, dense decoder matmul,
  MSE loss, dense AuxK, plain (unfused) Adam, fp32 (and bf16 autocast on CUDA);
- sparsify-style step: autograd dense TopK encoder, ``embedding_bag`` decoder (its eager path), FVU loss,
  AuxK off (its default), unit-norm decoder with gradient projection.
Ours: ``SparseAutoencoder`` with the sparse TopK encoder backward, AuxK on, fused Adam (bf16 matmul on CUDA).

    python benchmarks/bench_sae.py                 # CPU: small scale + a small run on the real default model
    python benchmarks/bench_sae.py --quick         # seconds, for a smoke run

On CUDA it measures the issue's setting (d_in=768, 16k latents, k=32, 4096-token batches; 131k latents for
memory) and end-to-end tokens/s from a random SmolLM2-shaped model. The machine may be shared and loaded:
the side-by-side ratios are what counts.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import article_truth, row, write_result  # noqa: E402

from hf_addons.interp import SAEConfig, SparseAutoencoder  # noqa: E402
from hf_addons.interp.trainer import default_lr, geometric_median  # noqa: E402


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


# -- the three training steps ----------------------------------------------------------------------------------
class Method:
    """One training recipe over an SAE's parameters; ``step(x)`` does forward, backward and update."""

    name = "?"

    def __init__(self, d_in: int, d_sae: int, k: int, device: str, seed: int = 0, lr: float | None = None):
        torch.manual_seed(seed)
        self.sae = SparseAutoencoder(SAEConfig(d_in=d_in, d_sae=d_sae, k=k)).to(device)
        self.k, self.d_sae = k, d_sae
        self.lr = lr or 2e-4 / math.sqrt(d_sae / 16384)
        self.since_fired = torch.zeros(d_sae, dtype=torch.long, device=device)
        self.dead_threshold = 10_000_000
        self.opt = self._optimizer()

    def _optimizer(self):
        return torch.optim.Adam(self.sae.parameters(), lr=self.lr)

    def init_b_dec(self, x: torch.Tensor) -> None:
        pass

    def dead_mask(self) -> torch.Tensor:
        return self.since_fired > self.dead_threshold

    def track(self, indices: torch.Tensor, n: int) -> None:
        fired = torch.zeros(self.d_sae, device=indices.device).index_add_(
            0, indices.reshape(-1), torch.ones(indices.numel(), device=indices.device)
        )
        self.since_fired += n
        self.since_fired.masked_fill_(fired > 0, 0)


class SAELensStyle(Method):
    name = "SAELens-style dense TopK (fp32)"

    def __init__(self, *a, autocast: bool = False, **kw):
        super().__init__(*a, **kw)
        self.autocast = autocast
        if autocast:
            self.name = "SAELens-style dense TopK (bf16 autocast)"

    def step(self, x: torch.Tensor) -> None:
        s = self.sae
        ctx = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast)
        with ctx:
            hidden_pre = (x - s.b_dec) @ s.W_enc + s.b_enc
            vals, idx = hidden_pre.topk(self.k, dim=-1)
            acts = torch.zeros_like(hidden_pre).scatter(-1, idx, vals.relu())
            recon = acts @ s.W_dec + s.b_dec
            err = (recon.float() - x).pow(2)
            loss = err.sum(-1).mean()
            dead = self.dead_mask()
            aux_pre = hidden_pre.masked_fill(~dead, float("-inf"))
            k_aux = min(x.shape[1] // 2, self.d_sae)
            avals, aidx = aux_pre.topk(k_aux, dim=-1)
            aux_acts = torch.zeros_like(hidden_pre).scatter(-1, aidx, avals.relu().nan_to_num(0.0, 0.0, 0.0))
            e_hat = aux_acts @ s.W_dec
            resid = (x - recon.float()).detach()
            aux = (e_hat.float() - resid).pow(2).sum(-1).mean() * (dead.sum() > 0)
            loss = loss + aux / 32
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            self.track(idx, x.shape[0])
        self.last = (idx, vals)


class SparsifyStyle(Method):
    name = "sparsify-style (eager, AuxK off)"

    def __init__(self, *a, autocast: bool = False, **kw):
        super().__init__(*a, **kw)
        self.autocast = autocast
        if autocast:
            self.name = "sparsify-style (eager, AuxK off, bf16 autocast)"
        if kw.get("lr") is not None:
            self.name += f", lr {self.lr:.2g}"

    def init_b_dec(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            self.sae.b_dec.copy_(geometric_median(x))

    def step(self, x: torch.Tensor) -> None:
        s = self.sae
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            pre = F.relu((x - s.b_dec) @ s.W_enc + s.b_enc)
            vals, idx = pre.topk(self.k, dim=-1, sorted=False)
            # embedding_bag is not an autocast op: the weights follow the decoder's dtype
            recon = F.embedding_bag(idx, s.W_dec, per_sample_weights=vals.to(s.W_dec.dtype), mode="sum")
            recon = recon + s.b_dec
            fvu = (recon.float() - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        fvu.backward()
        s.remove_gradient_parallel_to_decoder_directions()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        s.set_decoder_norm_to_unit_norm()
        with torch.no_grad():
            self.track(idx, x.shape[0])


class Ours(Method):
    """Our step for the throughput table; quality runs train ``self.sae`` with ``SAETrainer`` (``train_eval``),
    the path users get: its warm-up + linear-decay schedule, AuxK and dead-latent refresh included."""

    name = "ours (sparse TopK backward, AuxK on)"

    n_steps = 0
    dead_idx = None

    def __init__(self, *a, bf16: bool = False, auxk: bool = True, **kw):
        super().__init__(*a, **kw)
        self.bf16, self.auxk = bf16, auxk
        if not auxk:
            self.name = self.name.replace("AuxK on", "AuxK off")
        if bf16:
            self.name = self.name[:-1] + ", bf16 encoder)"

    def _optimizer(self):
        return torch.optim.Adam(self.sae.parameters(), lr=self.lr, eps=6.25e-10, fused=True)

    def init_b_dec(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            self.sae.b_dec.copy_(geometric_median(x))

    def step(self, x: torch.Tensor) -> None:
        s = self.sae
        if self.auxk and self.n_steps % 16 == 0:  # the trainer's dead-latent refresh (a sync every 16 steps)
            dead = self.dead_mask().nonzero().squeeze(-1)
            self.dead_idx = dead if dead.numel() else None
        self.n_steps += 1
        out = s(x, dead_mask=self.dead_idx, compute_dtype=torch.bfloat16 if self.bf16 else None)
        out.loss.backward()
        s.remove_gradient_parallel_to_decoder_directions()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        s.set_decoder_norm_to_unit_norm()
        with torch.no_grad():
            self.since_fired += x.shape[0]
            fired = torch.zeros(self.d_sae, device=x.device).index_add_(
                0, out.latent_indices.reshape(-1), (out.latent_values > 0).reshape(-1).float()
            )
            self.since_fired.masked_fill_(fired > 0, 0)


# -- 1. throughput ------------------------------------------------------------------------------------------------
def throughput(methods, data: torch.Tensor, batch: int, steps: int, dead_fraction: float) -> dict[str, dict]:
    """Tokens/s of each method's full training step with ``dead_fraction`` of latents dead (AuxK active)."""
    out = {}
    for m in methods:
        n_dead = int(dead_fraction * m.d_sae)
        m.since_fired[:n_dead] = m.dead_threshold + 1
        for i in range(3):  # warm-up
            m.step(data[i * batch : (i + 1) * batch])
            m.since_fired[:n_dead] = m.dead_threshold + 1
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        _sync()
        t0 = time.perf_counter()
        for i in range(steps):
            j = i % max(1, data.shape[0] // batch - 1)
            m.step(data[j * batch : (j + 1) * batch])
        _sync()
        dt = time.perf_counter() - t0
        row = {"tok_per_s": steps * batch / dt, "step_ms": 1000 * dt / steps}
        if torch.cuda.is_available():
            row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out[m.name] = row
        print(f"  {m.name}: {row}", flush=True)
    return out


# -- 2. quality at matched L0 --------------------------------------------------------------------------------------
def train_eval(
    m: Method, train: torch.Tensor, test: torch.Tensor, tokens: int, batch: int, seed: int = 0
) -> dict[str, float]:
    """Train ``m`` on ``tokens`` tokens of ``train`` (the same batch sequence for every method) and evaluate on
    ``test``. ``Ours`` trains through ``SAETrainer`` with its defaults; the baselines run their own step."""
    from hf_addons.interp import SAETrainer, SAETrainingArguments, evaluate

    g = torch.Generator().manual_seed(seed)
    m.dead_threshold = max(tokens // 10, batch)
    steps = tokens // batch
    batches = (
        train[torch.randint(0, train.shape[0], (batch,), generator=g).to(train.device)] for _ in range(steps)
    )
    t0 = time.perf_counter()
    if isinstance(m, Ours):
        args = SAETrainingArguments(
            total_tokens=steps * batch, batch_size=batch, bf16=m.bf16, seed=seed, progress=False
        )
        trainer = SAETrainer(m.sae, args, batches)
        trainer.train()
        m.since_fired, m.dead_threshold = trainer.tokens_since_fired, trainer.dead_threshold
    else:
        m.init_b_dec(train[:4096])
        for x in batches:
            m.step(x)
    _sync()
    train_s = time.perf_counter() - t0

    metrics = evaluate(m.sae, test)
    metrics["train_s"] = train_s
    metrics["dead_fraction_training"] = float((m.since_fired > m.dead_threshold).float().mean())
    return metrics


def _chunks(n_chunks: int, context: int) -> list[str]:
    """The shared news articles cut into ~``context``-token pieces (4 characters per token)."""
    bodies = [v["articleBody"] for v in article_truth().values()]
    chunks = [b[i : i + 4 * context] for b in bodies for i in range(0, len(b), 4 * context)]
    return [c for c in chunks if len(c) > 100][:n_chunks]


def real_model_activations(layer: int, n_chunks: int, context: int, device: str):
    """Residual-stream activations of the embedded SmolLM2-135M on the shared news articles (chunked)."""
    from hf_addons.interp.activations import collect_activations
    from hf_addons.models import load_model

    model, tok = load_model(device=device, dtype=torch.float32)
    t0 = time.perf_counter()
    acts = collect_activations(
        model, tok, _chunks(n_chunks, context), layer=layer, context_size=context, batch_size=16
    )
    _sync()
    return acts, time.perf_counter() - t0


def extraction_timing(layer: int, context: int, device: str) -> dict[str, float]:
    """Seconds for 32 chunks: our early exit after ``layer`` vs the full forward that
    ``output_hidden_states``-based tools pay."""
    from hf_addons.interp.activations import resolve_hook, run_to_hook, tokenize
    from hf_addons.models import load_model

    model, tok = load_model(device=device, dtype=torch.float32)
    spec = resolve_hook(model, layer)
    sample = _chunks(32, context)
    timings = {}
    for mode in ("early_exit", "full_forward"):
        t0 = time.perf_counter()
        for i in range(0, len(sample), 16):
            enc = tokenize(tok, sample[i : i + 16], context, device)
            with torch.no_grad():
                if mode == "early_exit":
                    run_to_hook(model, spec, enc["input_ids"], enc["attention_mask"])
                else:
                    model(**enc, output_hidden_states=True, use_cache=False)
        _sync()
        timings[mode] = time.perf_counter() - t0
    return timings


def e2e_cuda(layer: int, d_sae: int, k: int, tokens: int) -> dict[str, float]:
    """End-to-end tokens/s on CUDA: a random SmolLM2-shaped model's activations streamed into training, the
    LM forwards stopping after ``layer`` and running ahead on a side stream (``prefetch``)."""
    from hf_addons.interp import SAETrainer, SAETrainingArguments
    from hf_addons.interp.activations import ActivationBuffer, iter_activations
    from hf_addons.models import load_tokenizer
    from hf_addons.testing import smollm2_shaped_lm

    model = smollm2_shaped_lm(dtype=torch.bfloat16, device="cuda")
    tok = load_tokenizer()
    g = torch.Generator().manual_seed(0)
    vocab = torch.randint(100, 40000, (100_000, 256), generator=g)
    texts = (tok.decode(row) for row in vocab)
    stream = iter_activations(model, tok, texts, layer=layer, context_size=256, batch_size=32)
    buffer = ActivationBuffer(stream, batch_size=4096, buffer_tokens=2**18, device="cuda", prefetch=2)
    sae = SparseAutoencoder(SAEConfig(d_in=576, d_sae=d_sae, k=k)).cuda()
    args = SAETrainingArguments(total_tokens=tokens, batch_size=4096, progress=False, logging_steps=10**9)
    t0 = time.perf_counter()
    SAETrainer(sae, args, buffer).train()
    _sync()
    return {"tok_per_s": tokens / (time.perf_counter() - t0)}


def speed(args, device: str) -> None:
    """Step throughput (fp32 and bf16 pairs, side by side) and activation extraction: ``results/sae-*.json``."""
    cuda = device == "cuda"
    if cuda:
        d_in, d_sae, k, batch, steps = 768, 16384, 32, 4096, 50
    elif args.quick:
        d_in, d_sae, k, batch, steps = 64, 512, 8, 256, 5
    else:
        d_in, d_sae, k, batch, steps = 256, 4096, 32, 1024, 15
    setting = {"d_in": d_in, "d_sae": d_sae, "k": k, "batch": batch, "steps": steps, "threads": args.threads}
    payload: dict = {"setting": {**setting, "device": device}}
    summary = []
    print(f"throughput: d_in={d_in} d_sae={d_sae} k={k} batch={batch} on {device}", flush=True)
    data = torch.randn(batch * 8, d_in, device=device)
    # (precision, baselines with their own bf16 option, ours): each pair is compared at the same precision
    pairs = {
        "fp32": ([SAELensStyle(d_in, d_sae, k, device), SparsifyStyle(d_in, d_sae, k, device)],
                 Ours(d_in, d_sae, k, device)),
        "bf16": ([SAELensStyle(d_in, d_sae, k, device, autocast=True),
                  SparsifyStyle(d_in, d_sae, k, device, autocast=True)],
                 Ours(d_in, d_sae, k, device, bf16=True)),
    }  # fmt: skip
    target = ">= 2.5M tok/s at 16k latents (H100)" if cuda else "faster than both"
    payload["throughput"] = {}
    for precision, (baselines, ours_m) in pairs.items():
        tp = throughput([*baselines, ours_m], data, batch, steps, dead_fraction=0.05)
        payload["throughput"].update(tp)
        ours = tp[ours_m.name]["tok_per_s"]
        for m in baselines:
            base = tp[m.name]["tok_per_s"]
            summary.append(
                row(
                    "sae",
                    f"train step tok/s, {d_sae} latents k={k}, {precision} ({device})",
                    anchor=m.name,
                    anchor_value=base,
                    ours=ours,
                    ratio=ours / base,
                    unit="tok/s",
                    target=target,
                    met=(ours >= 2.5e6) if cuda else ours > base,
                )
            )
    del pairs
    # AuxK's share of our step: the same step with AuxK off, like the sparsify-style one (payload only)
    no_aux = [Ours(d_in, d_sae, k, device, auxk=False), Ours(d_in, d_sae, k, device, bf16=True, auxk=False)]
    payload["throughput"].update(throughput(no_aux, data, batch, steps, dead_fraction=0.05))
    del no_aux
    if cuda:
        tp_big = throughput([Ours(d_in, 131072, k, device, bf16=True)], data, batch, 20, dead_fraction=0.05)
        payload["throughput_131k"] = tp_big
        big = next(iter(tp_big.values()))
        summary.append(
            row(
                "sae",
                "train step tok/s / peak GiB, 131k latents",
                anchor=None,
                anchor_value=None,
                ours=f"{big['tok_per_s']:.0f} / {big['peak_mem_gib']:.1f}",
                unit="tok/s / GiB",
                target=">= 0.6M tok/s, <= 8 GiB",
                met=big["tok_per_s"] >= 6e5 and big["peak_mem_gib"] <= 8,
            )
        )
        e2e = e2e_cuda(15, 16384, 32, 4096 * 100)
        payload["e2e_cuda"] = e2e
        summary.append(
            row(
                "sae",
                "end-to-end tok/s (SmolLM2-shaped LM + SAE, 16k)",
                anchor=None,
                anchor_value=None,
                ours=e2e["tok_per_s"],
                unit="tok/s",
                target="report",
                met=None,
            )
        )
    if not args.skip_real:
        layer, context = 9, 64 if args.quick else 128
        timings = extraction_timing(layer, context, device)
        print(f"  extraction, 32 chunks x {context} tokens: {timings}", flush=True)
        payload["extraction_timing_s"] = timings
        summary.append(
            row(
                "sae",
                f"activation extraction, early exit vs full forward (layer {layer} of 30)",
                anchor="full forward (output_hidden_states)",
                anchor_value=timings["full_forward"],
                ours=timings["early_exit"],
                ratio=timings["full_forward"] / timings["early_exit"],
                unit="s",
                target="faster",
                met=timings["early_exit"] < timings["full_forward"],
            )
        )
    write_result("sae" + ("-quick" if args.quick else ""), payload, summary)


def quality(args, device: str) -> None:
    """Held-out FVU / dead % at matched L0 and token budget, per seed: ``results/sae-quality*.json``."""
    layer = 9
    n_chunks, context = (48, 64) if args.quick else (240, 128)
    q_dsae, q_k = (1024, 16) if args.quick else (2304, 32)
    q_tokens = args.tokens or (20_000 if args.quick else 200_000)
    q_batch = 256 if args.quick else 512
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"real default model: layer {layer}, {n_chunks} chunks x {context} tokens", flush=True)
    acts, extract_s = real_model_activations(layer, n_chunks, context, device)
    n_test = max(512, acts.shape[0] // 10)
    perm = torch.randperm(acts.shape[0], generator=torch.Generator().manual_seed(0))
    test, train = acts[perm[:n_test]], acts[perm[n_test:]]
    print(f"  {acts.shape[0]} tokens in {extract_s:.1f}s", flush=True)
    payload: dict = {
        "setting": {
            "layer": layer,
            "tokens": acts.shape[0],
            "test_tokens": n_test,
            "extract_s": extract_s,
            "d_sae": q_dsae,
            "k": q_k,
            "train_tokens": q_tokens,
            "batch": q_batch,
            "seeds": seeds,
            "threads": args.threads,
        },
        "per_seed": {},
    }
    our_lr = default_lr(q_dsae, q_tokens // q_batch)
    payload["setting"]["lr_baselines"] = Method(acts.shape[1], q_dsae, q_k, device).lr
    payload["setting"]["lr_ours"] = our_lr
    makers = {
        "saelens": lambda seed: SAELensStyle(acts.shape[1], q_dsae, q_k, device, seed=seed),
        "sparsify": lambda seed: SparsifyStyle(acts.shape[1], q_dsae, q_k, device, seed=seed),
        # the baseline at our peak lr: what the schedule (warm-up, decay to 0) adds on its own
        "sparsify_our_lr": lambda seed: SparsifyStyle(
            acts.shape[1], q_dsae, q_k, device, seed=seed, lr=our_lr
        ),
        "ours": lambda seed: Ours(acts.shape[1], q_dsae, q_k, device, seed=seed),
        "ours_bf16": lambda seed: Ours(acts.shape[1], q_dsae, q_k, device, seed=seed, bf16=True),
    }
    runs: dict[str, list[dict[str, float]]] = {key: [] for key in makers}
    names = {}
    for seed in seeds:
        for key, make in makers.items():
            m = make(seed)
            names[key] = m.name
            r = train_eval(m, train, test, q_tokens, q_batch, seed=seed)
            runs[key].append(r)
            payload["per_seed"].setdefault(str(seed), {})[m.name] = r
            print(f"  seed {seed} {m.name}: fvu={r['fvu']:.4f} dead={r['dead_fraction']:.4f}", flush=True)

    def stats(key: str, metric: str) -> tuple[float, float]:
        v = torch.tensor([r[metric] for r in runs[key]], dtype=torch.float64)
        return float(v.mean()), float(v.std()) if len(v) > 1 else 0.0

    payload["mean_std"] = {
        names[key]: {m: stats(key, m) for m in ("fvu", "dead_fraction", "train_s")} for key in makers
    }
    summary = []
    spread = f", mean of {len(seeds)} seeds" if len(seeds) > 1 else ""
    for ours_key in ("ours", "ours_bf16"):
        o_fvu, o_std = stats(ours_key, "fvu")
        for base_key in ("saelens", "sparsify", "sparsify_our_lr"):
            b_fvu, b_std = stats(base_key, "fvu")
            summary.append(
                row(
                    "sae",
                    f"held-out FVU at L0={q_k}, SmolLM2 layer {layer} ({q_tokens // 1000}k tok{spread}; "
                    f"std ours {o_std:.4f}, anchor {b_std:.4f})",
                    anchor=names[base_key],
                    anchor_value=b_fvu,
                    ours=o_fvu,
                    ratio=b_fvu / o_fvu,
                    unit="FVU (lower is better)",
                    target="lower FVU",
                    met=o_fvu < b_fvu,
                    digits=4,
                )
            )
    o_dead = max(r["dead_fraction"] for key in ("ours", "ours_bf16") for r in runs[key])
    for base_key in ("saelens", "sparsify"):
        summary.append(
            row(
                "sae",
                "dead latents on held-out tokens (%, worst seed; ours: fp32 or bf16)",
                anchor=names[base_key],
                anchor_value=100 * max(r["dead_fraction"] for r in runs[base_key]),
                ours=100 * o_dead,
                unit="%",
                target="< 1%",
                met=o_dead < 0.01,
            )
        )
    name = "sae-quality" + ("-quick" if args.quick else "")
    if args.tokens and not args.quick:
        name += f"-{q_tokens // 1000}k"
    write_result(name, payload, summary)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads (1: the shared box thrashes with more)"
    )
    p.add_argument(
        "--part",
        choices=("speed", "quality", "all"),
        default="all",
        help="speed (timing: run it alone on the machine) or quality (long, not timing-sensitive) or both",
    )
    p.add_argument(
        "--skip-real", action="store_true", help="speed: skip the extraction timing on the real model"
    )
    p.add_argument("--seeds", default="0", help="quality: comma-separated seeds (init and batch order)")
    p.add_argument("--tokens", type=int, default=None, help="quality: training tokens (default 200k)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.part in ("speed", "all"):
        speed(args, device)
    if args.part in ("quality", "all"):
        quality(args, device)


if __name__ == "__main__":
    main()
