"""RegMix-style mixture search: small proxy models on random mixtures, a regression, the predicted optimum.

RegMix (Liu et al. 2024) trains many tiny models on mixtures sampled around the natural token distribution,
fits a regression from mixture weights to validation loss and takes the mixture with the lowest predicted
loss; the ranking of mixtures from ~1M-parameter proxies carried over to 1B models. Here every proxy is a
``transformers`` causal LM trained with ``Trainer`` on a token-true mixture from :func:`build_mixture`, each
run is a cached unit on disk (resumable, parallel across processes), and the result is a
:class:`SearchResult` whose ``weights`` go straight back into ``build_mixture``.

    result = search_mixture(train_sources, validation_sources, objective="mean", cache_dir="runs/")
    mixture = build_mixture(train_sources, result.weights, num_tokens=10**9)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.mixture.mixture import build_mixture, normalise_weights

Objective = str | Mapping[str, float]


@dataclass
class ProxyConfig:
    """The proxy model and how it is trained.

    The default is a 2-layer Llama with hidden size 128 and tied embeddings over a compact 4,096-token
    vocabulary: 1.05M parameters (RegMix's smallest proxies are 1M), trained for ~195 optimizer steps (200k
    tokens at batch 8 x 128) at learning rate 1.25e-3. Measured on the benchmark's four real domains
    (``benchmarks/bench_mixture_search.py``): about 37 CPU-seconds per proxy. What the ranking needs is
    optimizer steps (proxies of 8 steps rank mixtures by noise) and a learning rate that shrinks with the
    width (at 5e-3 the 1M proxy's seed noise was 3x that at 1.25e-3).

    Args:
        hidden_size, num_layers, num_heads, intermediate_size: the ``LlamaConfig`` shape.
        seq_len: tokens per training/validation block (documents are packed with EOS between them).
        batch_size, learning_rate, warmup_ratio, weight_decay: ``TrainingArguments`` (cosine schedule).
        threads: torch threads per proxy process.
        vocab: K = a compact vocabulary for cheap proxies (default 4,096): the K-1 most frequent token ids of
            the data keep their own id, all others share one (the output layer and softmax shrink by
            ``len(tokenizer) / K``; losses are then over that bucketed vocabulary). None = the tokenizer's.

    Examples:

    ```python
    >>> ProxyConfig(hidden_size=64, vocab=8192).hidden_size
    64
    ```
    """

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512
    seq_len: int = 128
    batch_size: int = 8
    learning_rate: float = 1.25e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    threads: int = 1
    vocab: int | None = 4096

    def vocab_size(self, tokenizer: Any) -> int:
        return self.vocab or len(tokenizer)

    def model_config(self, tokenizer: Any) -> Any:
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=self.vocab_size(tokenizer),
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_heads,
            max_position_embeddings=self.seq_len,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )

    def num_parameters(self, vocab_size: int) -> int:
        h, f, n = self.hidden_size, self.intermediate_size, self.num_layers
        return vocab_size * h + n * (4 * h * h + 3 * h * f + 2 * h) + h

    def learning_rate_at(self, hidden_size: int) -> float:
        """This rate carried to another width (scaled by 1 / width): what kept the seed noise down."""
        return self.learning_rate * self.hidden_size / hidden_size

    def at_width(
        self, hidden_size: int, num_layers: int | None = None, learning_rate: float | None = None
    ) -> ProxyConfig:
        """This proxy grown (or shrunk) to another width: the same recipe, an MLP of 4 x the width and the
        learning rate carried by ``learning_rate_at`` unless given; how a validation proxy is made from
        the search's.

        ```python
        >>> ProxyConfig().at_width(256, num_layers=4).learning_rate
        0.000625
        ```
        """
        return replace(
            self,
            hidden_size=hidden_size,
            num_layers=self.num_layers if num_layers is None else num_layers,
            intermediate_size=4 * hidden_size,
            learning_rate=learning_rate or self.learning_rate_at(hidden_size),
        )


def parse_objective(objective: Objective, domains: Sequence[str]) -> dict[str, float]:
    """``"mean"``, one domain's name, or ``{domain: weight}`` -> normalised weights over validation domains."""
    if isinstance(objective, str):
        if objective == "mean":
            return {d: 1.0 / len(domains) for d in domains}
        if objective not in domains:
            raise ValueError(
                f"objective {objective!r} is neither 'mean' nor a validation domain; domains: {list(domains)}"
            )
        return {objective: 1.0}
    missing = [d for d in objective if d not in domains]
    if missing:
        raise ValueError(
            f"objective names domain(s) {missing} without a validation set; have {list(domains)}"
        )
    total = sum(float(v) for v in objective.values())
    if total <= 0 or any(float(v) < 0 for v in objective.values()):
        raise ValueError(f"objective weights must be >= 0 with a positive sum, got {dict(objective)}")
    return {d: float(v) / total for d, v in objective.items()}


TEST_SUFFIX = "-test"


def scored_as_test(domain: str) -> str:
    """The name a domain's test set is scored under in every run's ``val_loss`` (beside its validation set)."""
    return f"{domain}{TEST_SUFFIX}"


def objective_on_test(objective: Mapping[str, float], test_domains: Sequence[str]) -> dict[str, float]:
    """The objective read on the test sets instead of the validation sets: every domain it weights needs one."""
    missing = [d for d in objective if d not in test_domains]
    if missing:
        raise ValueError(
            f"the objective weights domain(s) {missing} without a test set: give one for every weighted domain "
            f"({list(objective)}) or none"
        )
    return {scored_as_test(d): w for d, w in objective.items()}


def _per_source(
    value: float | Mapping[str, float] | None, names: Sequence[str], default: float | None, what: str
):
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"{what} names source(s) {unknown} that are not in the search {list(names)}")
        return {s: float(value[s]) if s in value else default for s in names}
    return {s: default if value is None else float(value) for s in names}


# the draws' Dirichlet concentrations per source: from near the natural mixture (3) to far from it (0.3)
CONCENTRATION = (0.3, 1.0, 3.0)


@dataclass
class SearchSpace:
    """Token counts of the sources and the constraints a mixture must meet.

    ``target_tokens``: the budget of the run the mixture is for. Its epoch caps are tighter than a proxy's
    (a source repeated twice in a 1M-token proxy is repeated ten times in a 5M-token run), so mixtures are
    sampled and recommended within the caps at the larger of the two budgets.
    """

    tokens: dict[str, int]
    tokens_per_run: int
    min_share: dict[str, float]
    max_share: dict[str, float]
    max_epochs: dict[str, float | None]
    target_tokens: int | None = None

    @property
    def budget(self) -> int:
        """The budget the epoch caps apply at by default: the target run's, or the proxies' if larger."""
        return max(self.tokens_per_run, self.target_tokens or 0)

    @property
    def names(self) -> list[str]:
        return list(self.tokens)

    @property
    def natural(self) -> dict[str, float]:
        total = sum(self.tokens.values())
        return {s: t / total for s, t in self.tokens.items()}

    def lower(self) -> np.ndarray:
        """Per-source share bound from below: ``min_share``."""
        return np.asarray([self.min_share[s] for s in self.names])

    def upper(self) -> np.ndarray:
        """Per-source share bound: ``max_share`` and the epoch cap at :attr:`budget` tokens."""
        caps = [
            min(self.max_share[s], math.inf if e is None else e * self.tokens[s] / self.budget)
            for s, e in self.max_epochs.items()
        ]
        return np.asarray(caps)

    def feasible(self, w: np.ndarray) -> np.ndarray:
        w = np.atleast_2d(w)
        inside = np.all(w >= self.lower() - 1e-9, axis=1) & np.all(w <= self.upper() + 1e-9, axis=1)
        return inside & (np.abs(w.sum(1) - 1) <= 1e-6)

    def check(self, weights: Mapping[str, float], tokens_per_run: int | None = None, what: str = "mixture"):
        """A clear error when ``weights`` do not sum to 1 or a source is too small for its share.

        A run's own weights (rounded to 6 decimals in its cache key) are accepted back: 1e-5 of slack."""
        w = normalise_weights(weights, self.names, tol=1e-5)
        budget = tokens_per_run or self.budget
        for s, share in w.items():
            need = share * budget
            cap = self.max_epochs[s]
            if cap is not None and need > cap * self.tokens[s] + 1e-9:
                raise ValueError(
                    f"{what}: source {s!r} has {self.tokens[s]} tokens but its share {share:.3f} of {budget} "
                    f"tokens needs {need:.0f}, i.e. {need / self.tokens[s]:.2f} epochs > max_epochs {cap}; lower "
                    f"its share to <= {cap * self.tokens[s] / budget:.3f} or raise max_epochs[{s!r}]"
                )
        return w

    def validate(self) -> None:
        lo = sum(self.min_share.values())
        if lo > 1 + 1e-9:
            raise ValueError(f"min_share values sum to {lo:.3f} > 1: no mixture meets them")
        up = self.upper()
        for s, u in zip(self.names, up, strict=True):
            if u < self.min_share[s] - 1e-12:
                raise ValueError(
                    f"source {s!r} is too small for its minimum share: {self.tokens[s]} tokens, min_share "
                    f"{self.min_share[s]:.3f} of {self.budget} tokens needs "
                    f"{self.min_share[s] * self.budget / self.tokens[s]:.2f} epochs > max_epochs "
                    f"{self.max_epochs[s]}"
                )
        if up.sum() < 1 - 1e-9:
            raise ValueError(
                f"the sources cannot fill {self.budget} tokens within their caps (at most "
                f"{up.sum():.3f} of the budget: {dict(zip(self.names, np.round(up, 3).tolist(), strict=True))}); "
                "lower the budget (tokens_per_run, target_tokens) or raise max_epochs"
            )

    def sample(
        self, n: int, rng: np.random.Generator, concentration: Sequence[float] = CONCENTRATION
    ) -> np.ndarray:
        """RegMix-style candidates: Dirichlet around the natural distribution at several concentrations,
        kept only when they meet the constraints (rejection sampling)."""
        nat = np.asarray([self.natural[s] for s in self.names])
        # a floor keeps tiny natural shares explorable; the scale sets how far from natural a draw goes
        base = 0.5 * nat + 0.5 / len(nat)
        out: list[np.ndarray] = []
        for _ in range(1000):
            scale = rng.choice(np.asarray(concentration, dtype=float), size=4 * n)[:, None] * len(nat)
            draw = rng.gamma(base[None, :] * scale)
            total = draw.sum(1, keepdims=True)
            # at a low concentration every gamma of a row can underflow to 0: no direction, not a mixture
            keep = total[:, 0] > 0
            draw = draw[keep] / total[keep]
            out.extend(draw[self.feasible(draw)])
            if len(out) >= n:
                return np.asarray(out[:n])
        raise ValueError(
            f"could not sample {n} mixtures meeting the constraints; relax min/max shares or caps"
        )

    def drop_small(self, w: np.ndarray, below: float) -> np.ndarray:
        """``w`` with its shares under ``below`` set to 0 (where ``min_share`` allows) and the rest
        renormalised; ``w`` as it is if that would break a constraint."""
        out = np.where((w < below) & (self.lower() <= 0), 0.0, w)
        out = out / out.sum()
        return out if self.feasible(out)[0] else w

    def corners(self) -> tuple[np.ndarray, dict[str, str]]:
        """Each source alone (the others at their ``min_share``) where the constraints allow it, and why not
        for the rest.

        Dirichlet draws around the natural distribution stay away from the corners of the simplex, so a
        regression fitted on them alone extrapolates there; a one-domain objective's optimum is often near one.
        """
        lo, up = self.lower(), self.upper()
        out, skipped = [], {}
        for i, s in enumerate(self.names):
            w = lo.copy()
            w[i] = 1 - (lo.sum() - lo[i])
            if self.feasible(w)[0]:
                out.append(w)
            else:
                skipped[s] = (
                    f"a share of {w[i]:.3f} exceeds its bound {up[i]:.3f} (max_share or "
                    f"max_epochs at {self.budget} tokens)"
                )
        return np.asarray(out).reshape(-1, len(self.names)), skipped


# -- one proxy run ---------------------------------------------------------------------------------------------
_DATA_CACHE: dict[str, Any] = {}


def _token_cache(tokenizer: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    if not texts:  # the caller names the sources that gave no text
        return {}
    ids = tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)["input_ids"]
    return {t: np.asarray(i, dtype=np.int32) for t, i in zip(texts, ids, strict=True)}


def split_long_documents(texts: Sequence[str], ids: dict[str, np.ndarray], max_tokens: int) -> list[str]:
    """``texts`` with each one over ``max_tokens`` tokens replaced by keys of its near-equal pieces.

    A proxy's share of a source is drawn whole document by whole document; where one document holds a
    large part of a small source (one article of 40k tokens in a 114k-token web split), whether the seed
    draws it decides what the proxy learns from that source. Pieces make the draw fine-grained. Each
    piece's token ids are added to ``ids`` under its key; like a document, each piece ends with EOS when
    packed (pieces are drawn apart, so their boundaries are context breaks in the stream).
    """
    out: list[str] = []
    for t in texts:
        a = ids[t]
        if a.size <= max_tokens:
            out.append(t)
            continue
        k = -(-a.size // max_tokens)
        cuts = np.linspace(0, a.size, k + 1).round().astype(np.int64)
        tag = hashlib.sha1(t.encode()).hexdigest()[:16]
        for i in range(k):
            key = f"\x00piece {tag} {i + 1}/{k}"
            ids[key] = a[cuts[i] : cuts[i + 1]]
            out.append(key)
    return out


def _blocks(arrays: Sequence[np.ndarray], eos: int, seq_len: int) -> np.ndarray:
    """Pack documents (EOS after each) into ``seq_len`` blocks; the remainder is dropped."""
    flat = np.concatenate([np.append(a, eos) for a in arrays]) if arrays else np.zeros(0, np.int32)
    n = flat.size // seq_len
    return flat[: n * seq_len].reshape(n, seq_len).astype(np.int64)


def eval_blocks(arrays: Sequence[np.ndarray], eos: int, seq_len: int, eval_tokens: int) -> np.ndarray:
    """At most ``eval_tokens`` of a validation set, as blocks evenly spaced over all of its documents.

    Not its first ``eval_tokens``: a validation set in file order (one language's catalogues, one package's
    modules) would then stand for the whole domain; spaced blocks cover every part in proportion to its size.
    """
    return spaced_blocks(_blocks(arrays, eos, seq_len), max(eval_tokens // seq_len, 1))


def spaced_blocks(blocks: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``blocks`` evenly spaced from first to last (all of them if there are no more than ``n``)."""
    if len(blocks) <= n:
        return blocks
    return blocks[np.linspace(0, len(blocks) - 1, n).round().astype(np.int64)]


@dataclass
class _Bundle:
    """Everything a proxy process needs, saved once per search: texts, their token ids, validation blocks."""

    train_texts: dict[str, list[str]]
    ids: dict[str, np.ndarray]  # text -> token ids (shared across sources)
    val_blocks: dict[str, np.ndarray]
    tokenizer_path: str | None
    fingerprint: str
    by_frequency: np.ndarray  # token ids of the data, most frequent first (for a compact proxy vocabulary)
    stratify: bool = False  # proxies draw parts of an epoch spread over each source (build_mixture's)

    def vocab_map(self, vocab: int | None, full: int) -> np.ndarray | None:
        if vocab is None or vocab >= full:
            return None
        if vocab < 2:
            raise ValueError(f"ProxyConfig.vocab must be >= 2 (or None), got {vocab}")
        remap = np.full(full, vocab - 1, dtype=np.int64)
        keep = self.by_frequency[: vocab - 1]
        remap[keep] = np.arange(keep.size)
        return remap

    def proxy_val_blocks(self, vocab: int | None, full: int) -> dict[str, np.ndarray]:
        """The validation blocks in a proxy's vocabulary (``vocab_map``): what every proxy is scored on."""
        remap = self.vocab_map(vocab, full)
        return self.val_blocks if remap is None else {d: remap[b] for d, b in self.val_blocks.items()}


def _load_bundle(path: str) -> _Bundle:
    if path not in _DATA_CACHE:
        import pickle

        with open(path, "rb") as fh:
            _DATA_CACHE[path] = pickle.load(fh)  # noqa: S301 - written by this process's parent
    return _DATA_CACHE[path]


def _load_tokenizer(path: str | None) -> Any:
    key = f"tok:{path}"
    if key not in _DATA_CACHE:
        from hf_addons.models import load_tokenizer

        _DATA_CACHE[key] = load_tokenizer(path)
    return _DATA_CACHE[key]


SEED_PARTS = ("init", "sample", "order")


def seed_of(spec: Mapping[str, Any], part: str) -> int:
    """A run's seed for one source of randomness: ``init`` (the weights), ``sample`` (which documents the
    mixture draws) or ``order`` (batch order). A plain int seeds all three; a dict of the three lets a noise
    study vary one at a time (``benchmarks/mixture_seed_noise.py``)."""
    seed = spec["seed"]
    return int(seed if isinstance(seed, int) else seed[part])


def run_key(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def proxy_mixture(spec: Mapping[str, Any], bundle: _Bundle) -> Any:
    """The token-true mixture a proxy of ``spec`` trains on (rows carry ``text`` and ``source``)."""
    from datasets import Dataset, are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    total = sum(spec["weights"].values())
    weights = {s: w / total for s, w in spec["weights"].items()}  # undo the rounding of the cache key
    srcs = {s: Dataset.from_dict({"text": bundle.train_texts[s]}) for s in weights}

    def count(texts: Sequence[str]) -> list[int]:
        return [bundle.ids[t].size for t in texts]

    was_off = are_progress_bars_disabled()
    disable_progress_bars()  # one bar per source and proxy is noise; the caller's setting comes back after
    try:
        return build_mixture(
            srcs,
            weights,
            tokenizer=count,
            num_tokens=spec["tokens"],
            max_epochs=spec["max_epochs"],
            seed=seed_of(spec, "sample"),
            stratify=bundle.stratify,
        )
    finally:
        if not was_off:
            enable_progress_bars()


def new_proxy_model(proxy: ProxyConfig, tokenizer: Any, seed: int) -> Any:
    """A freshly initialised ``LlamaForCausalLM`` of ``proxy``'s shape (same seed, same initialisation)."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(proxy.model_config(tokenizer))


def proxy_training_args(proxy: ProxyConfig, seed: int, output_dir: str | Path, **overrides: Any) -> Any:
    """One epoch, cosine schedule with warmup, no checkpoints or logging: how every proxy is trained."""
    import torch
    from transformers import TrainingArguments

    kwargs = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=proxy.batch_size,
        num_train_epochs=1,
        learning_rate=proxy.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=proxy.warmup_ratio,  # a float < 1 is a fraction of the steps
        weight_decay=proxy.weight_decay,
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    return TrainingArguments(**{**kwargs, **overrides})


def quiet(trainer: Any) -> Any:
    """Without progress bars ``Trainer`` prints its end-of-training metrics on stdout, one dict per proxy:
    a search's progress bar says what there is to say."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def run_path(cache_dir: str | Path, spec: Mapping[str, Any]) -> Path:
    """Where :func:`train_proxy` stores a run's result (keyed by the whole spec)."""
    return Path(cache_dir) / f"{run_key(spec)}.json"


def model_dir(cache_dir: str | Path, spec: Mapping[str, Any]) -> Path:
    """Where :func:`train_proxy` saves the trained model when asked to (``save_model=True``)."""
    return Path(cache_dir) / f"{run_key(spec)}-model"


def cached_run(cache_dir: str | Path, spec: Mapping[str, Any], save_model: bool = False) -> dict | None:
    """The stored result of ``spec``'s run, or None when it must train (with ``save_model``: also when its
    model was not kept)."""
    out = run_path(cache_dir, spec)
    if out.exists() and (not save_model or (model_dir(cache_dir, spec) / "config.json").exists()):
        return json.loads(out.read_text())
    return None


def write_run(path: Path, result: Mapping[str, Any]) -> None:
    """Atomic JSON write: a run interrupted mid-write leaves no half file that would read as cached."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes never share a half-written file
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)


def train_proxy(
    spec: Mapping[str, Any], bundle_path: str, cache_dir: str, save_model: bool = False
) -> dict[str, Any]:
    """Train one proxy on ``spec["weights"]`` for ``spec["tokens"]`` tokens; validation loss per domain.

    Cached as ``cache_dir/<key>.json`` (the key hashes the whole spec, the data fingerprint included);
    ``save_model`` also keeps the trained model in :func:`model_dir` (DoReMi's reference proxy).
    """
    if (cached := cached_run(cache_dir, spec, save_model)) is not None:
        return cached
    import torch
    from datasets import Dataset
    from transformers import Trainer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    proxy = ProxyConfig(**spec["proxy"])
    torch.set_num_threads(proxy.threads)
    bundle = _load_bundle(bundle_path)
    tok = _load_tokenizer(bundle.tokenizer_path)
    t0, c0 = time.perf_counter(), time.process_time()
    mix = proxy_mixture(spec, bundle)
    rep = mix.report()
    texts = mix.dataset["text"][:]
    train = _blocks([bundle.ids[t] for t in texts], tok.eos_token_id, proxy.seq_len)
    remap = bundle.vocab_map(proxy.vocab, len(tok))
    val_blocks = bundle.proxy_val_blocks(proxy.vocab, len(tok))
    train = train if remap is None else remap[train]
    model = new_proxy_model(proxy, tok, seed_of(spec, "init"))
    ds = Dataset.from_dict({"input_ids": train, "labels": train}).with_format("torch")
    args = proxy_training_args(proxy, seed_of(spec, "order"), Path(cache_dir) / "trainer-tmp" / run_key(spec))
    quiet(Trainer(model=model, args=args, train_dataset=ds)).train()
    losses = evaluate_proxy(model, val_blocks, proxy.batch_size * 4)
    if save_model:
        model.save_pretrained(model_dir(cache_dir, spec))
    result = {
        "key": run_key(spec),
        "spec": dict(spec),
        "val_loss": losses,
        "realised_shares": {s: r["realised_token_share"] for s, r in rep["sources"].items()},
        "train_tokens": int(train.size),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,  # all threads of this process: the cost on idle cores
    }
    write_run(run_path(cache_dir, spec), result)
    return result


def evaluate_proxy(model: Any, val_blocks: Mapping[str, np.ndarray], batch_size: int) -> dict[str, float]:
    """Mean next-token loss per validation domain (every block counts by its tokens)."""
    import torch
    import torch.nn.functional as F

    model.eval()
    device = next(model.parameters()).device
    out = {}
    with torch.no_grad():
        for name, blocks in val_blocks.items():
            total, n = 0.0, 0
            for i in range(0, len(blocks), batch_size):
                x = torch.as_tensor(blocks[i : i + batch_size], device=device)
                logits = model(input_ids=x).logits[:, :-1].float()
                loss = F.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction="sum"
                )
                total += float(loss)
                n += x[:, 1:].numel()
            out[name] = total / n
    return out


# -- regression ------------------------------------------------------------------------------------------------
SHARE_FLOOR = 0.01  # log(w + 1%): finite for a dropped source, and a share's effect saturates near zero


def _features(w: np.ndarray, kind: str) -> np.ndarray:
    return np.log(w + SHARE_FLOOR) if kind == "linear-log" else w


def _regressors(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import RidgeCV

    return {
        "linear-log": RidgeCV(alphas=np.logspace(-4, 2, 13)),
        "gradient-boosting": GradientBoostingRegressor(
            n_estimators=300, learning_rate=0.05, max_depth=2, subsample=0.8, random_state=seed
        ),
    }


def fit_regressor(
    w: np.ndarray,
    y: np.ndarray,
    seed: int = 0,
    folds: int = 5,
    repeats: int = 5,
    subset: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
) -> dict[str, Any]:
    """Cross-validated Spearman of each regressor's out-of-fold predictions; the best one refitted on all.

    With a few dozen runs one K-fold split's Spearman moves by +-0.1 with the split, so the score is the mean
    over ``repeats`` shuffled splits (``cv_spearman_sd``: their spread); ``oof`` is the first split's.
    ``subset`` (row indices): also score those rows' out-of-fold predictions alone (``cv_spearman_subset``),
    e.g. the random draws without the corner runs, whose extreme losses are easy to rank. ``y_test``: the
    same runs' objective on test sets that nothing was fitted to; ``cv_spearman_test`` scores the same
    out-of-fold predictions against it (does the ranking hold on text the choice never read?), over the
    ``subset`` rows when given.
    """
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold

    if len(y) < max(folds, 4):
        raise ValueError(f"need at least {max(folds, 4)} proxy runs to fit and cross-validate, have {len(y)}")
    scores, spread, oof, sub, on_test = {}, {}, {}, {}, {}
    for name, reg in _regressors(seed).items():
        rhos, sub_rhos, test_rhos = [], [], []
        for r in range(repeats):
            pred = np.zeros_like(y)
            for tr, te in KFold(folds, shuffle=True, random_state=seed + r).split(w):
                reg.fit(_features(w[tr], name), y[tr])
                pred[te] = reg.predict(_features(w[te], name))
            rhos.append(float(spearmanr(pred, y).statistic))
            if subset is not None:
                sub_rhos.append(float(spearmanr(pred[subset], y[subset]).statistic))
            if y_test is not None:
                rows = slice(None) if subset is None else subset
                test_rhos.append(float(spearmanr(pred[rows], np.asarray(y_test)[rows]).statistic))
            oof.setdefault(name, pred)
        scores[name], spread[name] = float(np.mean(rhos)), float(np.std(rhos))
        if subset is not None:
            sub[name] = float(np.mean(sub_rhos))
        if y_test is not None:
            on_test[name] = float(np.mean(test_rhos))
    best = max(scores, key=scores.get)
    model = _regressors(seed)[best].fit(_features(w, best), y)
    return {
        "name": best,
        "model": model,
        "cv_spearman": scores,
        "cv_spearman_sd": spread,
        "cv_spearman_subset": sub,
        "cv_spearman_test": on_test,
        "oof": oof[best],
    }


def predicted_optimum(
    space: SearchSpace,
    fit: Mapping[str, Any],
    seed: int = 0,
    candidates: int = 100_000,
    top_k: int = 100,
) -> np.ndarray:
    """RegMix's recommendation from a :func:`fit_regressor` fit: the mean of the ``top_k`` of ``candidates``
    constrained mixtures it scores lowest (a mean of feasible mixtures is feasible: the constraints are
    convex). The epoch caps hold at ``space.budget``: give the space a ``target_tokens`` for another run's."""
    cand = space.sample(candidates, np.random.default_rng(seed + 1), concentration=(0.1, 0.3, 1, 3, 10))
    pred = fit["model"].predict(_features(cand, fit["name"]))
    return cand[np.argsort(pred)[:top_k]].mean(0)


# -- the search ------------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """The recommended mixture and the evidence for it; ``build(...)`` feeds it to ``build_mixture``."""

    weights: dict[str, float]
    predicted_objective: float
    objective: dict[str, float]
    natural: dict[str, float]
    regressor: str
    cv_spearman: dict[str, float]
    runs: list[dict[str, Any]]
    oof_predictions: list[float]
    space: SearchSpace
    proxy: ProxyConfig
    parameters: int
    wall_seconds: float
    model: Any = field(default=None, repr=False)
    cv_spearman_sd: dict[str, float] = field(default_factory=dict)
    bundle_path: str | None = field(default=None, repr=False)  # the tokenized data, for check_at_scale
    corner_runs: int = 0  # the last ones are single sources (``search_mixture(corners=True)``)
    corners_skipped: dict[str, str] = field(default_factory=dict)
    cv_spearman_draws: dict[str, float] = field(default_factory=dict)  # without the corner runs
    concentration: tuple[float, ...] = CONCENTRATION  # of the draws' Dirichlet, per source
    min_weight: float = 0.0  # recommended shares under it were set to 0
    cache_dir: str | None = field(default=None, repr=False)
    # the objective on the held-out test sets (``search_mixture(test=...)``), which no choice read
    test_objective: dict[str, float] = field(default_factory=dict)
    cv_spearman_test: dict[str, float] = field(default_factory=dict)  # the CV predictions against it

    def measured(self) -> np.ndarray:
        return np.asarray([_score(r["val_loss"], self.objective) for r in self.runs])

    def measured_test(self) -> np.ndarray:
        """Each run's objective on the test sets (empty without them)."""
        if not self.test_objective:
            return np.asarray([])
        return np.asarray([_score(r["val_loss"], self.test_objective) for r in self.runs])

    def predict(self, weights: Sequence[Mapping[str, float]] | np.ndarray) -> np.ndarray:
        names = self.space.names
        w = (
            np.asarray([[m[s] for s in names] for m in weights])
            if not isinstance(weights, np.ndarray)
            else weights
        )
        return self.model.predict(_features(w, self.regressor))

    def build(self, sources: Mapping[str, Any], **kwargs: Any) -> Any:
        """``build_mixture(sources, self.weights, **kwargs)``."""
        return build_mixture(sources, self.weights, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "predicted_objective": self.predicted_objective,
            "objective": self.objective,
            "natural": self.natural,
            "regressor": self.regressor,
            "cv_spearman": self.cv_spearman,
            "cv_spearman_sd": self.cv_spearman_sd,
            "runs": len(self.runs),
            "corner_runs": self.corner_runs,
            "corners_skipped": self.corners_skipped,
            "cv_spearman_draws": self.cv_spearman_draws,
            "test_objective": self.test_objective,
            "cv_spearman_test": self.cv_spearman_test,
            "concentration": list(self.concentration),
            "min_weight": self.min_weight,
            "tokens_per_run": self.space.tokens_per_run,
            "proxy": asdict(self.proxy),
            "proxy_parameters": self.parameters,
            "constraints": {
                "min_share": self.space.min_share,
                "max_share": self.space.max_share,
                "max_epochs": self.space.max_epochs,
                "at_tokens": self.space.budget,
            },
            "target_tokens": self.space.target_tokens,
            "wall_seconds": self.wall_seconds,
        }

    def plot(self, path: str | Path, domains: tuple[str, str] | None = None) -> Path:
        """Predicted (out-of-fold) vs measured objective, and the predicted surface over two domains' shares."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = self.space.names
        a, b = domains or tuple(sorted(names, key=lambda s: -self.weights[s])[:2])
        y = self.measured()
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
        ax[0].scatter(self.oof_predictions, y, s=18, label="validation sets (chosen by)")
        lo, hi = (
            float(min(y.min(), min(self.oof_predictions))),
            float(max(y.max(), max(self.oof_predictions))),
        )
        ax[0].plot([lo, hi], [lo, hi], "k--", lw=0.8)
        if self.test_objective:  # the same predictions against text nothing chose by
            ax[0].scatter(self.oof_predictions, self.measured_test(), s=18, marker="x", label="test sets")
            ax[0].legend(loc="upper left", fontsize=8)
        ax[0].set_xlabel("predicted (out-of-fold)")
        ax[0].set_ylabel("measured objective (held-out loss)")
        on_test = self.cv_spearman_test.get(self.regressor)
        ax[0].set_title(
            f"{self.regressor}, CV Spearman {self.cv_spearman[self.regressor]:.3f}"
            + ("" if on_test is None else f" (test sets {on_test:.3f})")
        )
        # surface: shares of a and b on a grid, the rest split like the optimum's remainder
        rest = np.asarray([0.0 if s in (a, b) else self.weights[s] for s in names])
        rest = (
            rest / rest.sum() if rest.sum() > 0 else np.asarray([0.0 if s in (a, b) else 1.0 for s in names])
        )
        rest = rest / max(rest.sum(), 1e-12)
        g = np.linspace(0.0, 1.0, 61)
        ga, gb = np.meshgrid(g, g)
        mask = ga + gb <= 1
        w = np.zeros((mask.sum(), len(names)))
        w[:, names.index(a)], w[:, names.index(b)] = ga[mask], gb[mask]
        w += (1 - ga[mask] - gb[mask])[:, None] * rest[None, :]
        z = np.full(ga.shape, np.nan)
        z[mask] = self.predict(w)
        cs = ax[1].contourf(ga, gb, z, levels=20, cmap="viridis")
        fig.colorbar(cs, ax=ax[1], label="predicted objective")
        ax[1].scatter([self.weights[a]], [self.weights[b]], c="red", marker="*", s=120, label="recommended")
        ax[1].scatter([self.natural[a]], [self.natural[b]], c="white", marker="o", s=40, label="natural")
        ax[1].set_xlabel(f"share of {a}")
        ax[1].set_ylabel(f"share of {b}")
        ax[1].set_title("predicted loss surface (other domains in the optimum's ratio)")
        ax[1].legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def to_card(self, check: Any = None) -> str:
        """A dataset-card section saying how the mixture was chosen (with ``check``: what a
        :class:`~hf_addons.data.mixture.scale_check.ScaleCheck` of it measured)."""
        names = self.space.names
        obj = ", ".join(f"{d} {w:.2f}" for d, w in self.objective.items())
        rows = "\n".join(
            f"| {s} | {self.natural[s]:.3f} | {self.weights[s]:.3f} | {self.space.tokens[s]:,} | "
            f"{self.space.min_share[s]:.2f}–{self.space.max_share[s]:.2f} | {self.space.max_epochs[s]} |"
            for s in names
        )
        cv = ", ".join(
            f"{k} {v:.3f}" + (f" ± {self.cv_spearman_sd[k]:.3f}" if k in self.cv_spearman_sd else "")
            for k, v in self.cv_spearman.items()
        )
        conc = (
            ""
            if self.concentration == CONCENTRATION
            else f" (concentration per source {', '.join(f'{c:g}' for c in self.concentration)})"
        )
        return (
            "## Mixture selection\n\n"
            f"The domain weights were chosen by a RegMix-style search (`hf_addons.data.mixture.search`): "
            f"{len(self.runs)} proxy models ({self.parameters / 1e6:.2f}M parameters, Llama, "
            f"{self.proxy.num_layers} layers, hidden {self.proxy.hidden_size}, tied embeddings) were each trained "
            f"with `transformers.Trainer` on {self.space.tokens_per_run:,} tokens of a token-true mixture "
            + (
                f"({len(self.runs) - self.corner_runs} sampled from a Dirichlet around the natural token "
                f"distribution{conc}, {self.corner_runs} of one source alone). "
                if self.corner_runs
                else f"sampled from a Dirichlet around the natural token distribution{conc}. "
            )
            + "A regression from weights to "
            f"validation loss ({self.regressor}; out-of-fold Spearman over 5 shuffled 5-fold splits: {cv}"
            + (
                "; over the sampled runs alone: "
                + ", ".join(f"{k} {v:.3f}" for k, v in self.cv_spearman_draws.items())
                if self.cv_spearman_draws
                else ""
            )
            + ") was minimised over the "
            f"simplex under the constraints below. Objective: validation loss weighted {obj}; predicted "
            f"objective at the recommendation {self.predicted_objective:.4f}."
            + (
                " On held-out test sets that neither the regression nor the choice read ("
                + ", ".join(self.test_objective)
                + "), the same out-of-fold predictions rank the runs' objective with Spearman "
                + ", ".join(f"{k} {v:.3f}" for k, v in self.cv_spearman_test.items())
                + "."
                if self.test_objective
                else ""
            )
            + "\n\n"
            + (
                f"The epoch caps hold at {self.space.budget:,} tokens, the run the mixture is for.\n\n"
                if self.space.budget > self.space.tokens_per_run
                else ""
            )
            + "| domain | natural share | recommended share | train tokens | allowed share | max epochs |\n"
            "| --- | --- | --- | --- | --- | --- |\n"
            f"{rows}\n\n"
            "Proxy-scale rankings are a prediction, not a measurement at full scale: check the recommendation "
            "with a larger model before committing compute to it (`check_at_scale`).\n"
            + (f"\n{check.to_card()}" if check is not None else "")
        )


def _score(losses: Mapping[str, float], objective: Mapping[str, float]) -> float:
    return float(sum(w * losses[d] for d, w in objective.items()))


def _texts(ds: Any, name: str, text_column: str) -> list[str]:
    from datasets import Dataset

    if not isinstance(ds, Dataset):
        raise TypeError(f"source {name!r} must be a map-style datasets.Dataset (its size bounds the search)")
    if text_column not in ds.column_names:
        raise ValueError(f"source {name!r} has no text column {text_column!r}; it has {ds.column_names}")
    return [t for t in ds[text_column] if t]


def prepare(
    train_sources: Mapping[str, Any],
    validation: Mapping[str, Any],
    *,
    tokens_per_run: int,
    tokenizer: Any = None,
    text_column: str = "text",
    seq_len: int = 128,
    eval_tokens: int = 16_384,
    min_share: float | Mapping[str, float] | None = None,
    max_share: float | Mapping[str, float] | None = None,
    max_epochs: float | Mapping[str, float] | None = 4.0,
    max_doc_tokens: int | None = None,
    stratify: bool = False,
    target_tokens: int | None = None,
    test: Mapping[str, Any] | None = None,
) -> tuple[SearchSpace, _Bundle, Any]:
    """Tokenize every source once and check the inputs; every error is raised here, before any training.

    ``test``: domain -> held-out text that no choice reads; its blocks join the validation blocks under
    :func:`scored_as_test` (so every proxy scores them), after the validation sets.

    ``max_doc_tokens``: training documents longer than this are cut into near-equal pieces first, so a
    proxy's share of a source is drawn piece by piece (see :func:`split_long_documents`). ``stratify``:
    every proxy draws a part of an epoch spread evenly over each source's stored order
    (``build_mixture(stratify=True)``).
    """
    from hf_addons.models import load_tokenizer

    if not train_sources:
        raise ValueError("mixture search needs at least one training source")
    if tokens_per_run < 10 * seq_len:
        raise ValueError(f"tokens_per_run={tokens_per_run} is under 10 blocks of seq_len={seq_len}")
    if max_doc_tokens is not None and max_doc_tokens < seq_len:
        raise ValueError(f"max_doc_tokens={max_doc_tokens} is under one block (seq_len={seq_len})")
    if target_tokens is not None and (
        isinstance(target_tokens, bool) or int(target_tokens) != target_tokens or target_tokens < 1
    ):
        raise ValueError(
            f"target_tokens={target_tokens!r}: give the training budget of the run the mixture is for"
        )
    tok = tokenizer if tokenizer is not None and not isinstance(tokenizer, str) else load_tokenizer(tokenizer)
    names = list(train_sources)
    texts = {s: _texts(train_sources[s], s, text_column) for s in names}
    val_texts = {d: _texts(validation[d], f"validation[{d}]", text_column) for d in validation}
    if not val_texts:
        raise ValueError("give at least one validation set (domain -> Dataset)")
    test = dict(test or {})
    if unknown := [d for d in test if d not in validation]:
        raise ValueError(f"test set(s) {unknown} name no validation domain; domains: {list(validation)}")
    if clash := [scored_as_test(d) for d in test if scored_as_test(d) in validation]:
        raise ValueError(f"validation set(s) {clash} have the names the test sets are scored under")
    val_texts |= {scored_as_test(d): _texts(test[d], f"test[{d}]", text_column) for d in test}
    ids = _token_cache(tok, sorted({t for v in list(texts.values()) + list(val_texts.values()) for t in v}))
    if max_doc_tokens is not None:
        texts = {s: split_long_documents(texts[s], ids, max_doc_tokens) for s in names}
    tokens = {s: int(sum(ids[t].size for t in texts[s])) for s in names}
    empty = [s for s, n in tokens.items() if n == 0]
    if empty:
        raise ValueError(
            f"source(s) {empty} give no tokens with this tokenizer (empty or whitespace-only text)"
        )
    val_blocks = {
        d: eval_blocks([ids[t] for t in v], tok.eos_token_id, seq_len, eval_tokens)
        for d, v in val_texts.items()
    }
    short = [d for d, b in val_blocks.items() if len(b) == 0]
    if short:
        raise ValueError(f"validation or test set(s) {short} have fewer than seq_len={seq_len} tokens")
    space = SearchSpace(
        tokens=tokens,
        tokens_per_run=tokens_per_run,
        min_share=_per_source(min_share, names, 0.0, "min_share"),
        max_share=_per_source(max_share, names, 1.0, "max_share"),
        max_epochs=_per_source(max_epochs, names, None, "max_epochs"),
        target_tokens=None if target_tokens is None else int(target_tokens),
    )
    space.validate()
    fp = hashlib.sha256()
    for s in names:
        fp.update(f"{s}:{len(texts[s])}:{tokens[s]}".encode())
    for d, b in val_blocks.items():
        fp.update(f"{d}:".encode() + b.tobytes())
    fp.update(tokenizer_digest(tok).encode())
    if max_doc_tokens is not None:
        fp.update(f"max_doc_tokens:{max_doc_tokens}".encode())
    if stratify:
        fp.update(b"stratify")
    tok_path = tokenizer if isinstance(tokenizer, str) else getattr(tok, "name_or_path", None) or None
    if tokenizer is None:
        tok_path = None
    every = np.concatenate([ids[t] for v in list(texts.values()) + list(val_texts.values()) for t in v])
    uniq, counts = np.unique(every, return_counts=True)
    by_freq = uniq[np.argsort(-counts, kind="stable")].astype(np.int64)
    by_freq = np.concatenate([[tok.eos_token_id], by_freq[by_freq != tok.eos_token_id]])  # EOS packs blocks
    bundle = _Bundle(texts, ids, val_blocks, tok_path, fp.hexdigest()[:16], by_freq, stratify)
    return space, bundle, tok


def tokenizer_digest(tok: Any) -> str:
    """What a tokenizer maps text to (its vocabulary and EOS), not where it was loaded from: the default
    tokenizer is read from one cache folder or another depending on whether the model was converted, and a
    run keyed by the folder would not be found again."""
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: (kv[1], kv[0]))
    return hashlib.sha256(json.dumps([vocab, tok.eos_token_id]).encode()).hexdigest()[:16]


def save_bundle(bundle: _Bundle, cache_dir: str | Path) -> Path:
    """Pickle the tokenized data once per search into ``cache_dir`` (proxy processes load it from there)."""
    import pickle

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"data-{bundle.fingerprint}.pkl"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(bundle, fh)
        os.replace(tmp, path)
    return path


def run_proxies(
    specs: Sequence[dict[str, Any]],
    bundle_path: str,
    cache_dir: str,
    workers: int = 1,
    desc: str = "proxy runs",
    save_model: bool = False,
) -> list[dict[str, Any]]:
    """Train the proxies of ``specs`` (cached runs are read back), ``workers`` processes at a time;
    ``save_model`` keeps each trained model in :func:`model_dir` (a cached run without one trains again)."""
    from tqdm.auto import tqdm

    results: list[dict[str, Any] | None] = [None] * len(specs)
    todo: dict[str, list[int]] = {}  # run key -> the positions of its spec: a repeated spec trains once
    for i, spec in enumerate(specs):
        if (cached := cached_run(cache_dir, spec, save_model)) is not None:
            results[i] = {**cached, "cached": True}  # the flag is not written back
        else:
            todo.setdefault(run_key(spec), []).append(i)
    bar = tqdm(total=len(specs), initial=len(specs) - sum(map(len, todo.values())), desc=desc)

    def done(at: list[int], result: dict[str, Any]) -> None:
        for i in at:
            results[i] = result
        bar.update(len(at))
        bar.set_postfix(last_s=f"{result['seconds']:.0f}")

    if workers <= 1:
        for at in todo.values():
            done(at, train_proxy(specs[at[0]], bundle_path, cache_dir, save_model))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {
                pool.submit(train_proxy, specs[at[0]], bundle_path, cache_dir, save_model): at
                for at in todo.values()
            }
            for fut in as_completed(futs):
                done(futs[fut], fut.result())
    bar.close()
    return results  # type: ignore[return-value]


def search_mixture(
    train_sources: Mapping[str, Any],
    validation: Mapping[str, Any],
    *,
    objective: Objective = "mean",
    tokens_per_run: int = 200_000,
    num_runs: int = 32,
    proxy: ProxyConfig | None = None,
    tokenizer: Any = None,
    text_column: str = "text",
    min_share: float | Mapping[str, float] | None = None,
    max_share: float | Mapping[str, float] | None = None,
    max_epochs: float | Mapping[str, float] | None = 4.0,
    max_doc_tokens: int | None = None,
    stratify: bool = False,
    eval_tokens: int = 16_384,
    cache_dir: str | Path = "mixture-search",
    workers: int = 1,
    seed: int = 0,
    candidates: int = 100_000,
    top_k: int = 100,
    target_tokens: int | None = None,
    corners: bool = False,
    concentration: Sequence[float] = CONCENTRATION,
    min_weight: float = 1e-3,
    test: Mapping[str, Any] | None = None,
) -> SearchResult:
    """RegMix: ``num_runs`` proxies on sampled mixtures, a regression, the constrained predicted optimum.

    Args:
        train_sources: domain -> map-style ``Dataset`` with a text column (the data to mix).
        validation: domain -> ``Dataset`` of held-out text; the objective reads its losses.
        test: domain -> ``Dataset`` of more held-out text, which every proxy scores (under
            :func:`scored_as_test`) and nothing chooses by: the result reports the regression's CV Spearman
            against the runs' objective on it (``cv_spearman_test``), and ``check_at_scale`` scores its runs
            there too. It needs a test set for every domain the objective weights.
        objective: ``"mean"`` validation loss, one domain's name, or ``{domain: weight}``.
        tokens_per_run: training tokens of each proxy (token-true mixture from ``build_mixture``).
        num_runs: proxy runs (RegMix: a few times the number of domains squared; >= 5 to cross-validate).
        proxy: the proxy model and training settings (default :class:`ProxyConfig`, 1.05M parameters).
        min_share, max_share: per-source bounds on the share (one value or per source).
        max_epochs: how often a source may be repeated within a proxy run and hence its largest share.
        target_tokens: the budget of the run you will train on the mixture; the ``max_epochs`` caps then
            hold there too (proxies and recommendation). It does not change what the proxies measure: their
            ranking is that of ``tokens_per_run`` tokens (see ``check_at_scale`` for how it carries).
        max_doc_tokens: cut longer training documents into pieces before mixing, so that a proxy's share
            of a source does not hinge on whether its seed draws one long document (None: whole documents).
        stratify: a proxy drawing part of an epoch of a source takes documents spread evenly over its
            stored order, so seeds differ less in which documents they train on (``build_mixture``'s).
        eval_tokens: validation tokens per domain, in blocks spread evenly over all of its documents.
        cache_dir: one JSON per proxy run, keyed by its full config: an interrupted search resumes.
        workers: proxy processes in parallel (each uses ``proxy.threads`` torch threads).
        candidates, top_k: simplex points scored by the regressor; the recommendation is the mean of the
            ``top_k`` best (RegMix), which stays inside the (convex) constraints.
        corners: also train one proxy per source on that source alone (:meth:`SearchSpace.corners`), after
            the ``num_runs`` draws, so the regression sees the simplex's corners (a one-domain objective).
        concentration: the Dirichlet's concentration per source, one drawn per run from these; lower values
            draw sparser mixtures, nearer the corners and edges of the simplex (RegMix draws a total
            concentration from 15 log-spaced values in 0.1-5, i.e. 0.025-1.25 per source for four sources).
        min_weight: recommended shares under this become 0 (where ``min_share`` allows) and the rest are
            renormalised: the mean of the top candidates leaves traces such as 0.00003 of a source, a few
            documents of a real run, which no proxy measured (RegMix rounds its draws' shares under 2e-4).

    Examples:

    ```python
    >>> result = search_mixture({"code": code, "web": web}, {"code": code_val, "web": web_val},  # doctest: +SKIP
    ...                         tokens_per_run=200_000, num_runs=32, cache_dir="runs/mix")
    >>> mixture = result.build()  # doctest: +SKIP
    ```
    """
    t0 = time.perf_counter()
    proxy = proxy or ProxyConfig()
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
        target_tokens=target_tokens,
        test=test,
    )
    obj = parse_objective(objective, list(validation))
    on_test = objective_on_test(obj, list(test)) if test else {}
    # a shape transformers rejects (e.g. an odd RoPE head dim) fails here, not inside a worker process
    proxy.model_config(tok)
    if num_runs < 5:
        raise ValueError(f"num_runs={num_runs}: need at least 5 proxy runs to fit and cross-validate")
    concentration = tuple(float(c) for c in concentration)
    if not concentration or not all(np.isfinite(c) and c > 0 for c in concentration):
        raise ValueError(f"concentration={concentration}: give one or more positive numbers")
    if not 0 <= min_weight < 1 / len(space.names):
        raise ValueError(f"min_weight={min_weight}: give a share in [0, 1/{len(space.names)})")
    rng = np.random.default_rng(seed)
    mixtures = space.sample(num_runs, rng, concentration)
    skipped: dict[str, str] = {}
    if corners:  # after the draws: the same seed draws the same mixtures (and cache keys) with or without
        corner_mixtures, skipped = space.corners()
        mixtures = np.concatenate([mixtures, corner_mixtures])
    cache = Path(cache_dir)
    bundle_path = save_bundle(bundle, cache)
    # every proxy starts from the same initialisation and data seed: the differences come from the mixture
    specs = [
        proxy_spec(dict(zip(space.names, m.tolist(), strict=True)), space, proxy, bundle, seed)
        for m in mixtures
    ]
    runs = run_proxies(specs, str(bundle_path), str(cache), workers)
    w = np.asarray([[r["spec"]["weights"][s] for s in space.names] for r in runs])
    y = np.asarray([_score(r["val_loss"], obj) for r in runs])
    y_test = np.asarray([_score(r["val_loss"], on_test) for r in runs]) if on_test else None
    subset = np.arange(num_runs) if len(runs) > num_runs else None
    fit = fit_regressor(w, y, seed, subset=subset, y_test=y_test)
    best = space.drop_small(predicted_optimum(space, fit, seed, candidates, top_k), min_weight)
    weights = dict(zip(space.names, (best / best.sum()).tolist(), strict=True))
    return SearchResult(
        weights=weights,
        predicted_objective=float(fit["model"].predict(_features(best[None], fit["name"]))[0]),
        objective=obj,
        natural=space.natural,
        regressor=fit["name"],
        cv_spearman=fit["cv_spearman"],
        runs=runs,
        oof_predictions=fit["oof"].tolist(),
        space=space,
        proxy=proxy,
        parameters=proxy.num_parameters(proxy.vocab_size(tok)),
        wall_seconds=time.perf_counter() - t0,
        model=fit["model"],
        cv_spearman_sd=fit["cv_spearman_sd"],
        bundle_path=str(bundle_path),
        cache_dir=str(cache),
        corner_runs=len(runs) - num_runs,
        corners_skipped=skipped,
        cv_spearman_draws=fit["cv_spearman_subset"],
        concentration=concentration,
        min_weight=min_weight,
        test_objective=on_test,
        cv_spearman_test=fit["cv_spearman_test"],
    )


def proxy_spec(
    weights: Mapping[str, float],
    space: SearchSpace,
    proxy: ProxyConfig,
    bundle: _Bundle,
    seed: int | Mapping[str, int],
    tokens: int | None = None,
) -> dict[str, Any]:
    """The cache key material of one run: checked weights, budget, proxy config, caps, seed, data fingerprint.

    ``seed`` is an int or one seed per part of :data:`SEED_PARTS` (see :func:`seed_of`); equal parts collapse
    to the int, so such a run shares its cache entry with the plain-seed run.
    """
    if isinstance(seed, Mapping):
        if set(seed) != set(SEED_PARTS):
            raise ValueError(f"seed: give an int or exactly the parts {SEED_PARTS}, got {sorted(seed)}")
        parts = {p: int(seed[p]) for p in SEED_PARTS}
        seed = parts["init"] if len(set(parts.values())) == 1 else parts
    else:
        seed = int(seed)
    budget = tokens or space.tokens_per_run
    w = space.check(weights, budget)
    return {
        "weights": {s: round(v, 6) for s, v in w.items()},
        "tokens": int(budget),
        "proxy": asdict(proxy),
        "max_epochs": space.max_epochs,
        "seed": seed,
        "data": bundle.fingerprint,
    }
