"""DoReMi: domain weights from a Group-DRO proxy trained against a reference proxy (Xie et al. 2023).

A reference proxy is trained on the reference mixture (natural token shares by default). A second proxy of
the same shape trains on the same data with Group DRO over the domains: before every optimizer step the domain
weights ``alpha`` take an exponentiated-gradient step on each domain's excess loss (proxy minus reference
per-token loss, clipped at 0, averaged over the domain's tokens in the batch), are smoothed towards uniform,
and weight the proxy's loss. The recommendation is the average of ``alpha`` over training. Two proxy runs
instead of RegMix's dozens; no validation set is read to choose the weights (they are robust, not tuned to a
target). The proxy config, the data bundle, the compact vocabulary and the ``Trainer`` set-up are those of
:mod:`.search`, and the result's ``weights`` go straight into ``build_mixture``.

    result = doremi_weights(train_sources, validation_sources, tokens_per_run=200_000, cache_dir="runs/")
    mixture = build_mixture(train_sources, result.weights, num_tokens=10**9)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer

from hf_addons.data.mixture.bundle import DataBundle, prepare, save_bundle
from hf_addons.data.mixture.mixture import build_mixture
from hf_addons.data.mixture.proxy import (
    ProxyConfig,
    cached_run,
    evaluate_proxy,
    model_dir,
    new_proxy_model,
    open_run,
    proxy_mixture,
    proxy_spec,
    proxy_training_args,
    quiet,
    run_key,
    run_path,
    seed_of,
    train_proxy,
    write_run,
)
from hf_addons.data.mixture.space import SearchSpace

# -- the domain-weight update ----------------------------------------------------------------------------------


def project_to_bounds(weights: Any, lower: Any, upper: Any, iters: int = 60) -> Any:
    """KL projection of positive ``weights`` onto ``{lower <= w <= upper, sum w = 1}``: ``clip(c * w)``.

    The Bregman projection that matches an exponentiated-gradient step: it rescales the weights and clips the
    ones outside their bounds, ``c`` found by bisection on ``log c`` (the sum is monotone in ``c``). The set
    must be non-empty (``sum lower <= 1 <= sum upper``; :meth:`SearchSpace.validate` checks it).
    """
    lo_c = torch.full((), -60.0, dtype=weights.dtype, device=weights.device)
    hi_c = torch.full((), 60.0, dtype=weights.dtype, device=weights.device)
    for _ in range(iters):  # fixed count, no data-dependent branch: stays on the device
        mid = (lo_c + hi_c) / 2
        total = torch.clamp(weights * mid.exp(), lower, upper).sum()
        lo_c = torch.where(total < 1, mid, lo_c)
        hi_c = torch.where(total < 1, hi_c, mid)
    out = torch.clamp(weights * ((lo_c + hi_c) / 2).exp(), lower, upper)
    return out / out.sum()  # the bisection leaves ~1e-15; the bounds hold to that too


def update_domain_weights(
    weights: Any,
    excess: Any,
    eta: float = 1.0,
    smoothing: float = 1e-3,
    lower: Any = None,
    upper: Any = None,
) -> Any:
    """One DoReMi step: ``softmax(log w + eta * excess)``, mixed with uniform by ``smoothing``, then bounded.

    Args:
        weights: current domain weights (a tensor on the simplex).
        excess: per-domain excess loss (proxy minus reference per-token loss, clipped at 0, mean over the
            domain's tokens).
        eta: step size of the exponentiated gradient (DoReMi: 1).
        smoothing: mixing weight of the uniform distribution (DoReMi: 1e-3); keeps every domain alive.
        lower, upper: per-domain bounds (tensors); None = the plain simplex.
    """
    new = torch.softmax(torch.log(weights) + eta * excess, dim=0)
    new = (1 - smoothing) * new + smoothing / new.numel()
    if lower is not None or upper is not None:
        lo = torch.zeros_like(new) if lower is None else lower
        up = torch.ones_like(new) if upper is None else upper
        new = project_to_bounds(new, lo, up)
    return new


def domain_excess(token_loss: Any, reference_loss: Any, domain_ids: Any, num_domains: int) -> tuple[Any, Any]:
    """Per-domain mean of ``clip(token_loss - reference_loss, 0)`` over the domain's tokens in the batch.

    ``token_loss`` and ``reference_loss`` are ``(batch, tokens)``, ``domain_ids`` ``(batch,)``. Returns the
    excess per domain and a mask of the domains present in the batch (absent ones read 0).
    """
    per_seq = torch.clamp(token_loss - reference_loss, min=0).sum(1)
    sums = torch.zeros(num_domains, dtype=per_seq.dtype, device=per_seq.device).index_add_(
        0, domain_ids, per_seq
    )
    counts = torch.bincount(domain_ids, minlength=num_domains).to(per_seq.dtype) * token_loss.size(1)
    present = counts > 0
    return sums / counts.clamp(min=1), present


class DoReMiTrainer(Trainer):
    """Group DRO against a frozen reference model; batches carry ``input_ids`` and ``domain_ids``.

    Before each optimizer step the domain weights are updated from this batch's excess losses; the loss
    is then the importance-weighted token loss ``mean_t(alpha[d(t)] / share[d(t)] * loss_t)`` whose
    expectation over the training mixture (token shares ``share``) is ``sum_d alpha_d * loss_d``: the DRO
    objective, whatever the reference mixture. Gradient accumulation must be 1 (one update per step).
    """

    def __init__(
        self,
        *args: Any,
        reference_model: Any,
        domain_share: Sequence[float],
        eta: float,
        smoothing: float,
        lower: Sequence[float],
        upper: Sequence[float],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.args.gradient_accumulation_steps != 1:
            raise ValueError(
                "DoReMi updates the domain weights once per batch: gradient_accumulation_steps=1"
            )
        device = self.args.device
        self.reference_model = reference_model.to(device).eval().requires_grad_(False)
        self.share = torch.as_tensor(domain_share, dtype=torch.float32, device=device)
        self.eta, self.smoothing = eta, smoothing
        self.lower = torch.as_tensor(lower, dtype=torch.float32, device=device)
        self.upper = torch.as_tensor(upper, dtype=torch.float32, device=device)
        k = self.share.numel()
        self.weights = project_to_bounds(torch.full((k,), 1.0 / k, device=device), self.lower, self.upper)
        self.excess = torch.zeros(k, device=device)  # a domain absent from a batch keeps its last value
        self.history: list[Any] = []
        self.excess_history: list[Any] = []

    def compute_loss(
        self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        ids, domains = inputs["input_ids"], inputs["domain_ids"]
        outputs = model(input_ids=ids)
        logits = outputs.logits[:, :-1].float()
        target = ids[:, 1:]
        token_loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (batch, T-1)
        if model.training:
            with torch.no_grad():
                ref_logits = self.reference_model(input_ids=ids).logits[:, :-1].float()
                ref_loss = F.cross_entropy(ref_logits.transpose(1, 2), target, reduction="none")
                excess, present = domain_excess(token_loss.detach(), ref_loss, domains, self.share.numel())
                self.excess = torch.where(present, excess, self.excess)
                self.weights = update_domain_weights(
                    self.weights, self.excess, self.eta, self.smoothing, self.lower, self.upper
                )
                self.history.append(self.weights)
                self.excess_history.append(self.excess)
        scale = (self.weights / self.share)[domains]  # (batch,): one domain per sequence
        loss = (token_loss * scale[:, None]).mean()
        return (loss, outputs) if return_outputs else loss


# -- data: blocks that each hold one domain ---------------------------------------------------------------------


def domain_blocks(
    texts: Sequence[str],
    sources: Sequence[str],
    names: Sequence[str],
    bundle: DataBundle,
    eos: int,
    seq_len: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pack each domain's documents (in mixture order, EOS after each) into its own ``seq_len`` blocks.

    Returns ``(blocks, domain_ids)``; every block holds one domain, so a batch's per-domain losses are a
    scatter over its rows. A domain's last partial block is dropped (< ``seq_len`` tokens per domain).
    """
    src = np.asarray(sources)
    blocks, ids = [], []
    for d, name in enumerate(names):
        picked = [bundle.ids[t] for t in np.asarray(texts, dtype=object)[src == name]]
        if not picked:
            continue
        flat = np.concatenate([np.append(a, eos) for a in picked])
        n = flat.size // seq_len
        blocks.append(flat[: n * seq_len].reshape(n, seq_len).astype(np.int64))
        ids.append(np.full(n, d, dtype=np.int64))
    return np.concatenate(blocks), np.concatenate(ids)


# -- one DRO run ------------------------------------------------------------------------------------------------


def train_dro_proxy(spec: Mapping[str, Any], bundle_path: str, cache_dir: str) -> dict[str, Any]:
    """Train the Group-DRO proxy of ``spec`` against its saved reference model; cached like every proxy run."""
    if (cached := cached_run(cache_dir, spec)) is not None:
        return cached
    from datasets import Dataset
    from transformers import LlamaForCausalLM

    proxy, bundle, tok = open_run(spec, bundle_path)
    t0, c0 = time.perf_counter(), time.process_time()
    names = list(spec["weights"])
    mix = proxy_mixture(spec, bundle)
    rows = mix.dataset.select_columns(["text", "source"])[:]
    blocks, domains = domain_blocks(
        rows["text"], rows["source"], names, bundle, tok.eos_token_id, proxy.seq_len
    )
    remap = bundle.vocab_map(proxy.vocab, len(tok))
    blocks = blocks if remap is None else remap[blocks]
    val_blocks = bundle.proxy_val_blocks(proxy.vocab, len(tok))
    share = np.bincount(domains, minlength=len(names)) / len(domains)
    if np.any(share == 0):
        empty = [n for n, s in zip(names, share, strict=True) if s == 0]
        raise ValueError(
            f"the reference mixture gives domain(s) {empty} no full block of seq_len={proxy.seq_len} tokens; "
            "raise their reference share or tokens_per_run"
        )
    reference = LlamaForCausalLM.from_pretrained(model_dir(cache_dir, spec["reference_spec"]))
    model = new_proxy_model(proxy, tok, seed_of(spec, "init"))
    ds = Dataset.from_dict({"input_ids": blocks, "domain_ids": domains}).with_format("torch")
    args = proxy_training_args(
        proxy,
        seed_of(spec, "order"),
        Path(cache_dir) / "trainer-tmp" / run_key(spec),
        remove_unused_columns=False,
    )
    trainer = DoReMiTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        reference_model=reference,
        domain_share=share.tolist(),
        eta=spec["eta"],
        smoothing=spec["smoothing"],
        lower=[spec["bounds"]["min_share"][n] for n in names],
        upper=[spec["bounds"]["max_share"][n] for n in names],
    )
    quiet(trainer).train()
    history = torch.stack(trainer.history).cpu().double().numpy()
    excess = torch.stack(trainer.excess_history).cpu().double().numpy()
    average = history.mean(0)
    average = average / average.sum()
    marks = np.unique(np.linspace(0, len(history) - 1, min(len(history), 41)).round().astype(int))
    result = {
        "key": run_key(spec),
        "spec": dict(spec),
        "weights": dict(zip(names, average.tolist(), strict=True)),
        "final_weights": dict(zip(names, history[-1].tolist(), strict=True)),
        "final_excess": dict(zip(names, trainer.excess.cpu().tolist(), strict=True)),
        "mean_excess": dict(zip(names, excess.mean(0).tolist(), strict=True)),
        "trajectory": {
            "step": (marks + 1).tolist(),
            "weights": history[marks].round(6).tolist(),
            "excess": excess[marks].round(6).tolist(),
        },
        "steps": len(history),
        "block_share": dict(zip(names, share.tolist(), strict=True)),
        "val_loss": evaluate_proxy(model, val_blocks, proxy.batch_size * 4),
        "train_tokens": int(blocks.size),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
    write_run(run_path(cache_dir, spec), result)
    return result


# -- the method -------------------------------------------------------------------------------------------------


@dataclass
class DoReMiResult:
    """DoReMi's recommended mixture and the two runs behind it; ``build(...)`` feeds it to ``build_mixture``."""

    weights: dict[str, float]
    reference_weights: dict[str, float]
    natural: dict[str, float]
    reference_run: dict[str, Any]
    proxy_run: dict[str, Any]
    space: SearchSpace
    proxy: ProxyConfig
    parameters: int
    eta: float
    smoothing: float
    wall_seconds: float

    @property
    def runs(self) -> list[dict[str, Any]]:
        return [self.reference_run, self.proxy_run]

    @property
    def tokens(self) -> int:
        """The token budget: reference proxy plus DRO proxy."""
        return int(self.reference_run["spec"]["tokens"]) + int(self.proxy_run["spec"]["tokens"])

    def build(self, sources: Mapping[str, Any], **kwargs: Any) -> Any:
        """``build_mixture(sources, self.weights, **kwargs)``."""
        return build_mixture(sources, self.weights, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "doremi",
            "weights": self.weights,
            "reference_weights": self.reference_weights,
            "natural": self.natural,
            "final_weights": self.proxy_run["final_weights"],
            "final_excess": self.proxy_run["final_excess"],
            "mean_excess": self.proxy_run.get("mean_excess"),  # runs cached before it was recorded lack it
            "trajectory": self.proxy_run["trajectory"],
            "eta": self.eta,
            "smoothing": self.smoothing,
            "runs": 2,
            "tokens_per_run": self.space.tokens_per_run,
            "tokens": self.tokens,
            "steps": self.proxy_run["steps"],
            "proxy": asdict(self.proxy),
            "proxy_parameters": self.parameters,
            "val_loss": {"reference": self.reference_run["val_loss"], "dro": self.proxy_run["val_loss"]},
            "constraints": {
                "min_share": self.space.min_share,
                "max_share": self.space.max_share,
                "max_epochs": self.space.max_epochs,
            },
            "wall_seconds": self.wall_seconds,
        }

    def plot(self, path: str | Path) -> Path:
        """The domain weights over the DRO proxy's training, with their average (the recommendation)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        traj = self.proxy_run["trajectory"]
        w = np.asarray(traj["weights"])
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, name in enumerate(self.space.names):
            (line,) = ax.plot(traj["step"], w[:, i], label=name)
            ax.axhline(self.weights[name], color=line.get_color(), ls="--", lw=0.8)
        ax.set_xlabel("DRO proxy optimizer step")
        ax.set_ylabel("domain weight (dashed: average = recommendation)")
        ax.set_title(f"DoReMi domain weights (eta {self.eta}, smoothing {self.smoothing})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def to_card(self) -> str:
        """A dataset-card section saying how the mixture was chosen."""
        rows = "\n".join(
            f"| {s} | {self.natural[s]:.3f} | {self.reference_weights[s]:.3f} | {self.weights[s]:.3f} | "
            f"{self.space.tokens[s]:,} | {self.space.min_share[s]:.2f}–{self.space.max_share[s]:.2f} | "
            f"{self.space.max_epochs[s]} |"
            for s in self.space.names
        )
        return (
            "## Mixture selection\n\n"
            "The domain weights were chosen with DoReMi (`hf_addons.data.mixture.doremi`): a reference proxy "
            f"({self.parameters / 1e6:.2f}M parameters, Llama, {self.proxy.num_layers} layers, hidden "
            f"{self.proxy.hidden_size}) was trained with `transformers.Trainer` on "
            f"{self.reference_run['spec']['tokens']:,} tokens of the reference mixture, then a proxy of the same "
            "shape on the same data with Group DRO over the domains (exponentiated-gradient steps of size "
            f"{self.eta} on the per-domain excess loss over the reference, smoothing {self.smoothing}); the "
            f"weights are the average over its {self.proxy_run['steps']} steps.\n\n"
            "| domain | natural share | reference share | recommended share | train tokens | allowed share | "
            "max epochs |\n| --- | --- | --- | --- | --- | --- | --- |\n"
            f"{rows}\n\n"
            "Proxy-scale weights are a prediction, not a measurement at full scale: check the recommendation "
            "with a larger model before committing compute to it.\n"
        )


def _reference(reference: str | Mapping[str, float], space: SearchSpace) -> dict[str, float]:
    if isinstance(reference, str):
        if reference == "natural":
            return space.natural
        if reference == "uniform":
            return {s: 1.0 / len(space.names) for s in space.names}
        raise ValueError(
            f"reference {reference!r} is neither 'natural', 'uniform' nor a {{domain: weight}} map"
        )
    return dict(reference)


def doremi_weights(
    train_sources: Mapping[str, Any],
    validation: Mapping[str, Any],
    *,
    reference: str | Mapping[str, float] = "natural",
    tokens_per_run: int = 200_000,
    proxy: ProxyConfig | None = None,
    eta: float = 1.0,
    smoothing: float = 1e-3,
    tokenizer: Any = None,
    text_column: str = "text",
    min_share: float | Mapping[str, float] | None = None,
    max_share: float | Mapping[str, float] | None = None,
    max_epochs: float | Mapping[str, float] | None = 4.0,
    max_doc_tokens: int | None = None,
    stratify: bool = False,
    eval_tokens: int = 16_384,
    cache_dir: str | Path = "mixture-search",
    seed: int = 0,
) -> DoReMiResult:
    """DoReMi: a reference proxy, a Group-DRO proxy against it, the average domain weights of the latter.

    Args:
        train_sources: domain -> map-style ``Dataset`` with a text column (the data to mix).
        validation: domain -> ``Dataset`` of held-out text; only reported (the per-domain validation loss of
            both proxies), DoReMi does not read it to choose the weights.
        reference: the reference mixture both proxies train on: ``"natural"`` token shares, ``"uniform"``, or
            ``{domain: weight}`` (must fit the epoch caps at ``tokens_per_run``).
        tokens_per_run: training tokens of each of the two proxies (the budget is twice this).
        proxy: the proxy model and training settings (default :class:`ProxyConfig`, as RegMix).
        eta: exponentiated-gradient step size on the excess loss (DoReMi: 1).
        smoothing: mixing weight of uniform in every update (DoReMi: 1e-3), in [0, 1).
        min_share, max_share, max_epochs: the constraints of :func:`search_mixture`; every domain-weight
            update is projected onto them (the epoch caps at ``tokens_per_run``), so their average meets them.
        max_doc_tokens, stratify: as :func:`search_mixture` (how a proxy draws its share of a source).
        cache_dir: the two runs are cached there (the reference's model too): a repeated call resumes.

    Examples:

    ```python
    >>> result = doremi_weights({"code": code, "web": web}, {"code": code_val, "web": web_val},  # doctest: +SKIP
    ...                         tokens_per_run=200_000, cache_dir="runs/mix")
    >>> mixture = result.build()  # doctest: +SKIP
    ```
    """
    t0 = time.perf_counter()
    proxy = proxy or ProxyConfig()
    if not (eta > 0 and np.isfinite(eta)):
        raise ValueError(f"eta must be a positive step size, got {eta}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    space, bundle, tok = prepare(
        train_sources,
        validation,
        tokens_per_run=tokens_per_run,
        tokenizer=tokenizer,
        text_column=text_column,
        seq_len=proxy.seq_len,
        eval_tokens=eval_tokens,
        min_share=min_share,
        max_share=max_share,
        max_epochs=max_epochs,
        max_doc_tokens=max_doc_tokens,
        stratify=stratify,
    )
    proxy.model_config(tok)  # a shape transformers rejects fails before any training
    ref_weights = _reference(reference, space)
    ref_spec = proxy_spec(ref_weights, space, proxy, bundle, seed)  # checks the weights against the caps
    lower = {s: space.min_share[s] for s in space.names}
    upper = dict(zip(space.names, np.minimum(space.upper(), 1.0).tolist(), strict=True))
    dro_spec = {
        **ref_spec,
        "method": "doremi",
        "reference_spec": ref_spec,
        "eta": float(eta),
        "smoothing": float(smoothing),
        "bounds": {"min_share": lower, "max_share": upper},
    }
    cache = Path(cache_dir)
    bundle_path = str(save_bundle(bundle, cache))
    ref_run = train_proxy(ref_spec, bundle_path, str(cache), save_model=True)
    dro_run = train_dro_proxy(dro_spec, bundle_path, str(cache))
    return DoReMiResult(
        weights=dro_run["weights"],
        reference_weights=ref_spec["weights"],
        natural=space.natural,
        reference_run=ref_run,
        proxy_run=dro_run,
        space=space,
        proxy=proxy,
        parameters=proxy.num_parameters(proxy.vocab_size(tok)),
        eta=float(eta),
        smoothing=float(smoothing),
        wall_seconds=time.perf_counter() - t0,
    )
