"""One proxy run: a small causal LM trained with ``Trainer`` on a token-true mixture, scored per domain.

A run is keyed by the hash of its whole spec (:func:`proxy_spec`: weights, budget, proxy shape, caps, seed,
data fingerprint) and cached as one JSON file (:func:`train_proxy`), so a search resumes where it stopped
and :func:`run_proxies` trains only what is missing, in parallel processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.mixture.bundle import DataBundle, cached_tokenizer, load_bundle, pack_blocks
from hf_addons.data.mixture.mixture import build_mixture
from hf_addons.data.mixture.space import SearchSpace


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


SEED_PARTS = ("init", "sample", "order")


def seed_of(spec: Mapping[str, Any], part: str) -> int:
    """A run's seed for one source of randomness: ``init`` (the weights), ``sample`` (which documents the
    mixture draws) or ``order`` (batch order). A plain int seeds all three; a dict of the three lets a noise
    study vary one at a time (``benchmarks/mixture_seed_noise.py``)."""
    seed = spec["seed"]
    return int(seed if isinstance(seed, int) else seed[part])


def run_key(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def proxy_mixture(spec: Mapping[str, Any], bundle: DataBundle) -> Any:
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
    """The stored result of ``spec``'s run, marked ``cached`` so no report counts it as trained (the mark is
    not in the file), or None when it must train (with ``save_model``: also when its model was not kept)."""
    out = run_path(cache_dir, spec)
    if out.exists() and (not save_model or (model_dir(cache_dir, spec) / "config.json").exists()):
        return {**json.loads(out.read_text()), "cached": True}
    return None


def write_run(path: Path, result: Mapping[str, Any]) -> None:
    """Atomic JSON write: a run interrupted mid-write leaves no half file that would read as cached."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes never share a half-written file
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)


def open_run(spec: Mapping[str, Any], bundle_path: str) -> tuple[ProxyConfig, DataBundle, Any]:
    """What every proxy process sets up first: quiet ``transformers`` logs, the proxy's thread count, the
    data bundle and the tokenizer (both loaded once per process)."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    proxy = ProxyConfig(**spec["proxy"])
    torch.set_num_threads(proxy.threads)
    bundle = load_bundle(bundle_path)
    return proxy, bundle, cached_tokenizer(bundle.tokenizer_path)


def train_proxy(
    spec: Mapping[str, Any], bundle_path: str, cache_dir: str, save_model: bool = False
) -> dict[str, Any]:
    """Train one proxy on ``spec["weights"]`` for ``spec["tokens"]`` tokens; validation loss per domain.

    Cached as ``cache_dir/<key>.json`` (the key hashes the whole spec, the data fingerprint included);
    ``save_model`` also keeps the trained model in :func:`model_dir` (DoReMi's reference proxy).
    """
    if (cached := cached_run(cache_dir, spec, save_model)) is not None:
        return cached
    from datasets import Dataset
    from transformers import Trainer

    proxy, bundle, tok = open_run(spec, bundle_path)
    t0, c0 = time.perf_counter(), time.process_time()
    mix = proxy_mixture(spec, bundle)
    rep = mix.report()
    texts = mix.dataset["text"][:]
    train = pack_blocks([bundle.ids[t] for t in texts], tok.eos_token_id, proxy.seq_len)
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


def proxy_spec(
    weights: Mapping[str, float],
    space: SearchSpace,
    proxy: ProxyConfig,
    bundle: DataBundle,
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
            results[i] = cached
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
