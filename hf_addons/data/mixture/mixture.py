"""Token-true data mixtures on top of ``datasets.interleave_datasets``.

``interleave_datasets`` samples *documents* with given probabilities, but mixture targets (DoReMi, RegMix,
Llama/OLMo recipes) are *token* shares. A code document is not as long as a web page, so equal document
probabilities give very unequal token shares. ``build_mixture`` measures the mean tokens per document of each
source and samples source ``i`` with ``p_i ∝ w_i / mean_tokens_i``, so the expected token share is ``w_i``.

Every row of the result carries ``source`` and ``n_tokens``, so :meth:`Mixture.report` gives the realised
shares exactly. Sources never repeat more than ``max_epochs`` times: the mixture ends when the first source
runs out (``first_exhausted``) rather than silently skewing, and a ``num_docs`` the caps cannot provide is an
error that names the limiting source.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_addons.data.base import arrow_column

TokenCounter = Callable[[Sequence[str]], Sequence[int]]


def whitespace_counter(texts: Sequence[str]) -> np.ndarray:
    """Whitespace-separated words per text, computed in Arrow (no Python loop over rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(texts, type=pa.large_string())
    return pc.list_value_length(pc.utf8_split_whitespace(arr)).fill_null(0).to_numpy(zero_copy_only=False)


def make_counter(tokenizer: Any) -> TokenCounter:
    """A batched token counter: None = the default model's tokenizer, ``"whitespace"``, a tokenizer, a name,
    or any callable ``texts -> counts``."""
    if tokenizer == "whitespace":
        return whitespace_counter
    if callable(tokenizer) and not hasattr(tokenizer, "convert_tokens_to_ids"):
        return tokenizer
    if tokenizer is None or isinstance(tokenizer, str):
        from hf_addons.models import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    tok = tokenizer

    def count(texts: Sequence[str]) -> list[int]:
        return tok(list(texts), add_special_tokens=False, return_length=True, return_attention_mask=False)[
            "length"
        ]

    return count


def _is_iterable_ds(ds: Any) -> bool:
    from datasets import IterableDataset

    return isinstance(ds, IterableDataset)


def _check_source(name: str, ds: Any, text_column: str) -> None:
    from datasets import Dataset, IterableDataset

    if not isinstance(ds, (Dataset, IterableDataset)):
        raise TypeError(
            f"source {name!r} must be a datasets.Dataset or IterableDataset, got {type(ds).__name__}"
        )
    names = ds.column_names
    if names is not None and text_column not in names:
        raise ValueError(f"source {name!r} has no text column {text_column!r}; it has {names}")
    feats = ds.features
    if feats is not None and text_column in feats:
        dtype = getattr(feats[text_column], "dtype", None)
        if dtype not in ("string", "large_string"):
            raise TypeError(
                f"source {name!r}: column {text_column!r} must be text, it is {feats[text_column]}"
            )


def normalise_weights(
    weights: Mapping[str, float], sources: Sequence[str], tol: float = 1e-6
) -> dict[str, float]:
    """Validate that ``weights`` name exactly the sources, are >= 0 and sum to 1 (within ``tol``)."""
    missing = [s for s in sources if s not in weights]
    extra = [w for w in weights if w not in sources]
    if extra:
        raise ValueError(f"weights name source(s) {extra} that are not in the mixture {list(sources)}")
    if missing:
        raise ValueError(f"no weight for source(s) {missing}; give every source a weight (0 drops it)")
    w = {s: float(weights[s]) for s in sources}
    bad = {s: v for s, v in w.items() if not math.isfinite(v) or v < 0}
    if bad:
        raise ValueError(f"weights must be finite and >= 0, got {bad}")
    total = sum(w.values())
    if abs(total - 1.0) > tol:
        raise ValueError(f"weights sum to {total:.6g}, not 1; rescale them (e.g. w / sum(w)) or fix the typo")
    return w


def temperature_shares(sizes: Mapping[str, float], alpha: float) -> dict[str, float]:
    """XLM-R / mT5 temperature sampling: share_i ∝ n_i ** alpha (alpha=1 natural, alpha→0 uniform).

    Args:
        sizes: ``{name: size}`` (tokens or documents).
        alpha: the temperature exponent (1: natural shares, towards 0: uniform).

    Examples:

    ```python
    >>> temperature_shares({"en": 900, "sw": 100}, 0.5)
    {'en': 0.75, 'sw': 0.25}
    ```
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    v = {k: float(n) ** alpha if n > 0 else 0.0 for k, n in sizes.items()}
    total = sum(v.values())
    if total <= 0:
        raise ValueError(f"temperature sampling needs positive sizes, got {dict(sizes)}")
    return {k: x / total for k, x in v.items()}


@dataclass
class Mixture:
    """The mixed dataset plus how it was built; ``report()`` measures the realised shares.

    Args:
        dataset: the mixed ``Dataset`` or ``IterableDataset`` (with ``source`` and ``n_tokens`` columns).
        unit: ``"tokens"`` or ``"docs"``, what the targets are shares of.
        targets: the share asked of each source.
        probabilities: the per-document sampling probability of each source that realises the targets.
        mean_tokens: mean tokens per document of each source (exact, or from the first documents when streamed).
        source_docs: documents per source (None when unknown: streamed).
        max_epochs: how often each source may be repeated (None: unbounded).
        capacity_docs: documents the caps allow in all (None: unbounded).
        num_docs: documents asked for (None: until the first source runs out).
        seed: the sampling seed.
        dropped: sources with a zero target, left out.
        endless: True when nothing bounds a streamed mixture (no epoch caps, no ``num_docs``).

    Examples:

    ```python
    >>> mix = build_mixture({"web": web, "code": code}, {"web": 0.7, "code": 0.3})  # doctest: +SKIP
    >>> mix.report()  # realised vs target share per source  # doctest: +SKIP
    ```
    """

    dataset: Any
    unit: str
    targets: dict[str, float]
    probabilities: dict[str, float]
    mean_tokens: dict[str, float]
    source_docs: dict[str, int | None]
    max_epochs: dict[str, float | None]
    capacity_docs: int | None
    num_docs: int | None
    seed: int
    dropped: list[str] = field(default_factory=list)
    endless: bool = False

    def __iter__(self):
        return iter(self.dataset)

    def _columns(self, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
        ds = self.dataset
        if not _is_iterable_ds(ds):
            if limit is not None:
                ds = ds.select(range(min(limit, len(ds))))
            return arrow_column(ds, "source"), arrow_column(ds, "n_tokens")
        ds = ds.select_columns(["source", "n_tokens"])
        if limit is not None:
            ds = ds.take(limit)
        src, ntok = [], []
        for b in ds.iter(batch_size=8192):
            src.append(np.asarray(b["source"]))
            ntok.append(np.asarray(b["n_tokens"]))
        if not src:
            return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
        return np.concatenate(src), np.concatenate(ntok)

    def report(self, num_docs: int | None = None) -> dict[str, Any]:
        """Realised token and document shares per source over the first ``num_docs`` rows (default: all)."""
        if num_docs is None and self.endless:
            raise ValueError("this mixture is endless (no epoch caps, no num_docs): pass report(num_docs=N)")
        src, ntok = self._columns(num_docs)
        names = list(self.targets)
        tokens = {s: int(ntok[src == s].sum()) for s in names}
        docs = {s: int((src == s).sum()) for s in names}
        total_t, total_d = max(sum(tokens.values()), 1), max(sum(docs.values()), 1)
        measured = tokens if self.unit == "tokens" else docs
        total_m = total_t if self.unit == "tokens" else total_d
        rows = {}
        for s in names:
            realised = measured[s] / total_m
            n = self.source_docs[s]
            rows[s] = {
                "target_share": self.targets[s],
                "realised_share": realised,
                "error_pp": 100 * (realised - self.targets[s]),
                "realised_token_share": tokens[s] / total_t,
                "realised_doc_share": docs[s] / total_d,
                "docs": docs[s],
                "tokens": tokens[s],
                "probability": self.probabilities[s],
                "mean_tokens": self.mean_tokens[s],
                "epochs_used": None if not n else docs[s] / n,
                "max_epochs": self.max_epochs[s],
            }
        requested = num_docs or self.num_docs
        n_docs = int(src.size)
        return {
            "unit": self.unit,
            "docs": n_docs,
            "tokens": int(ntok.sum()),
            "requested_docs": requested,
            "complete": requested is None or n_docs >= requested,
            "max_abs_error_pp": max((abs(r["error_pp"]) for r in rows.values()), default=0.0),
            "dropped_sources": self.dropped,
            "sources": rows,
        }


def _label(ds: Any, name: str, text_column: str, counter: TokenCounter) -> Any:
    """Keep only the text, add ``source`` and ``n_tokens`` (identical features across sources)."""
    from datasets import Features, Value

    feats = Features({text_column: Value("string"), "source": Value("string"), "n_tokens": Value("int64")})

    def add(batch: dict[str, list]) -> dict[str, list]:
        texts = ["" if t is None else t for t in batch[text_column]]
        counts = np.asarray(counter(texts), dtype=np.int64)
        return {text_column: texts, "source": [name] * len(texts), "n_tokens": counts.tolist()}

    ds = ds.select_columns([text_column])
    if _is_iterable_ds(ds):
        return ds.map(add, batched=True, batch_size=1000, features=feats)
    return ds.map(add, batched=True, batch_size=1000, features=feats, desc=f"counting tokens ({name})")


def _mean_tokens(name: str, ds: Any, sample_docs: int, seed: int) -> float:
    if not _is_iterable_ds(ds):
        values = arrow_column(ds, "n_tokens")
    else:
        parts = [np.asarray(b["n_tokens"]) for b in ds.take(sample_docs).iter(batch_size=4096)]
        values = np.concatenate(parts) if parts else np.zeros(0)
    if values.size == 0:
        raise ValueError(f"source {name!r} is empty")
    mean = float(values.mean())
    if mean <= 0:
        raise ValueError(f"source {name!r} has no tokens (all documents are empty)")
    return mean


def _repeat(ds: Any, epochs: float | None, n: int | None) -> Any:
    if epochs is None:
        return ds.repeat(None) if _is_iterable_ds(ds) else ds
    reps = max(1, math.ceil(epochs))
    out = ds.repeat(reps) if reps > 1 else ds
    if n is not None and epochs != reps:
        limit = int(epochs * n)
        out = out.take(limit) if _is_iterable_ds(out) else out.select(range(limit))
    return out


def build_mixture(
    sources: Mapping[str, Any],
    weights: Mapping[str, float] | None = None,
    *,
    unit: str = "tokens",
    alpha: float | None = None,
    sizes: Mapping[str, float] | None = None,
    tokenizer: Any = None,
    text_column: str = "text",
    max_epochs: float | Mapping[str, float | None] | None = 1.0,
    num_docs: int | None = None,
    seed: int = 0,
    sample_docs: int = 10_000,
) -> Mixture:
    """Mix ``sources`` so that each gets ``weights[name]`` of the tokens (``unit="tokens"``) or documents.

    - ``weights`` must name every source and sum to 1. With ``alpha``, shares become ``w_i ** alpha``
      (renormalised); with ``alpha`` and no weights, the natural shares come from the source sizes (tokens,
      or ``sizes`` for streaming sources of unknown length): temperature sampling across languages.
    - ``tokenizer``: None (default model's tokenizer), a tokenizer, ``"whitespace"`` or ``texts -> counts``.
    - ``max_epochs``: how often a source may be repeated (one value or per source; None = unbounded). The
      mixture stops when the first source runs out; ``num_docs`` beyond what the caps allow raises.
    - Map-style sources give a map-style mixture (token counts are exact); if any source is streaming, all
      are streamed and mean lengths come from the first ``sample_docs`` documents of each.

    Args:
        sources: ``{name: Dataset or IterableDataset}``.
        weights: ``{name: share}`` summing to 1 (None with ``alpha``: shares from the source sizes).
        unit: ``"tokens"`` (shares of tokens) or ``"docs"`` (shares of documents).
        alpha: temperature: shares become ``w ** alpha``, renormalised.
        sizes: source sizes for ``alpha`` without weights when sources are streamed.
        tokenizer: None (the default model's), a tokenizer, ``"whitespace"`` or ``texts -> counts``.
        text_column: the column of texts.
        max_epochs: how often a source may be repeated (one value or per source; None = unbounded).
        num_docs: documents in the mixture (None: until the first source runs out).
        seed: the sampling seed.
        sample_docs: streamed sources: documents read to measure the mean length.

    Examples:

    ```python
    >>> mix = build_mixture({"web": web, "code": code}, {"web": 0.7, "code": 0.3})  # doctest: +SKIP
    >>> mix.dataset  # doctest: +SKIP
    ```
    """
    from datasets import interleave_datasets

    if unit not in ("tokens", "docs"):
        raise ValueError(f"unit must be 'tokens' or 'docs', got {unit!r}")
    if not sources:
        raise ValueError("build_mixture needs at least one source")
    if num_docs is not None and num_docs < 1:
        raise ValueError(f"num_docs must be >= 1, got {num_docs}")
    names = list(sources)
    for name in names:
        _check_source(name, sources[name], text_column)
    if weights is None and alpha is None:
        raise ValueError("give weights (shares summing to 1), alpha (temperature over source sizes), or both")
    w = normalise_weights(weights, names) if weights is not None else None
    if isinstance(max_epochs, Mapping):
        unknown = [k for k in max_epochs if k not in sources]
        if unknown:
            raise ValueError(f"max_epochs names source(s) {unknown} that are not in the mixture {names}")
        epochs = {s: max_epochs.get(s, 1.0) for s in names}
    else:
        epochs = {s: max_epochs for s in names}
    bad = {s: e for s, e in epochs.items() if e is not None and not e > 0}
    if bad:
        raise ValueError(f"max_epochs must be > 0 (or None for unbounded), got {bad}")

    streaming = any(_is_iterable_ds(ds) for ds in sources.values())
    counter = make_counter(tokenizer) if unit == "tokens" or (alpha is not None and w is None) else None
    counter = counter or (lambda texts: np.zeros(len(texts), dtype=np.int64))
    labelled, n_docs = {}, {}
    for name in names:
        ds = sources[name]
        if streaming and not _is_iterable_ds(ds):
            n_docs[name] = len(ds)
            ds = ds.to_iterable_dataset()
        else:
            n_docs[name] = None if _is_iterable_ds(ds) else len(ds)
        labelled[name] = _label(ds, name, text_column, counter)

    need_mean = unit == "tokens" or (alpha is not None and w is None)
    mean = {s: _mean_tokens(s, labelled[s], sample_docs, seed) if need_mean else 1.0 for s in names}

    if alpha is not None:
        if w is None:
            natural = {}
            for s in names:
                if sizes is not None and s in sizes:
                    natural[s] = float(sizes[s])
                elif n_docs[s] is not None:
                    natural[s] = n_docs[s] * (mean[s] if unit == "tokens" else 1.0)
                else:
                    raise ValueError(
                        f"alpha without weights needs the size of streaming source {s!r}: pass sizes={{...}}"
                    )
            w = temperature_shares(natural, alpha)
        else:
            w = temperature_shares(w, alpha)

    dropped = [s for s in names if w[s] == 0]
    kept = [s for s in names if w[s] > 0]
    if not kept:
        raise ValueError("every weight is 0: nothing to mix")
    raw = {s: w[s] / (mean[s] if unit == "tokens" else 1.0) for s in kept}
    total = sum(raw.values())
    probs = {s: raw[s] / total for s in kept}

    # how many documents the epoch caps allow before the first source runs out
    caps = {
        s: probs[s] and (epochs[s] * n_docs[s]) / probs[s]
        for s in kept
        if epochs[s] is not None and n_docs[s] is not None
    }
    capacity = int(min(caps.values())) if caps else None
    if num_docs is not None and capacity is not None and num_docs > capacity:
        s = min(caps, key=caps.get)
        needed = num_docs * probs[s]
        raise ValueError(
            f"source {s!r} is too small for its share: {n_docs[s]} docs x max_epochs {epochs[s]} = "
            f"{int(epochs[s] * n_docs[s])} docs, but {num_docs} mixed docs need ~{needed:.0f} from it; raise "
            f"max_epochs[{s!r}] to >= {needed / n_docs[s]:.2f}, lower its weight, or ask for <= {capacity} docs"
        )
    endless = streaming and num_docs is None and all(epochs[s] is None for s in kept)
    if endless:
        warnings.warn("no epoch cap and no num_docs: the mixture is endless", stacklevel=2)

    for s in kept:  # an unbounded map-style source repeats as often as num_docs needs
        if epochs[s] is None and n_docs[s] is not None and not streaming:
            need = (num_docs or n_docs[s]) * probs[s]
            epochs[s] = float(max(1, math.ceil(1.2 * need / n_docs[s]) + 1))
    parts = [_repeat(labelled[s], epochs[s], n_docs[s]) for s in kept]
    mixed = interleave_datasets(
        parts, probabilities=[probs[s] for s in kept], seed=seed, stopping_strategy="first_exhausted"
    )
    if num_docs is not None:
        mixed = (
            mixed.take(num_docs) if _is_iterable_ds(mixed) else mixed.select(range(min(num_docs, len(mixed))))
        )
    return Mixture(
        dataset=mixed,
        unit=unit,
        targets={s: w[s] for s in names},
        probabilities={s: probs.get(s, 0.0) for s in names},
        mean_tokens=mean,
        source_docs=n_docs,
        max_epochs=epochs,
        capacity_docs=capacity,
        num_docs=num_docs,
        seed=seed,
        dropped=dropped,
        endless=endless,
    )
