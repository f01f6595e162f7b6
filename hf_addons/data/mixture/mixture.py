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
        raise ValueError(f"weights sum to {total:.9g}, not 1; rescale them (e.g. w / sum(w)) or fix the typo")
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
        stratify: whether parts of an epoch were drawn spread over each source's stored order.

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
    stratify: bool = False

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


_GOLDEN = (math.sqrt(5) - 1) / 2


def _permuted_order(n: int, epochs: int, rng: np.random.Generator, stratify: bool = False) -> np.ndarray:
    """``epochs`` independent seeded permutations of ``range(n)`` back to back (never the stored order).

    ``stratify``: each permutation sorts the rows by ``frac(i * golden + u)`` (one seeded offset ``u`` per
    epoch), so every prefix of it is a set of rows spread evenly over the stored order (gaps differ by at
    most one row: the three-gap theorem); its order is not random, the caller shuffles what it takes.
    """
    if epochs <= 0:
        return np.zeros(0, int)
    if stratify:
        u = rng.random(epochs)
        return np.concatenate(
            [np.argsort((np.arange(n) * _GOLDEN + u[e]) % 1.0, kind="stable") for e in range(epochs)]
        )
    return np.concatenate([rng.permutation(n) for _ in range(epochs)])


def _plan_source(
    sizes: np.ndarray,
    quota: float,
    share: float,
    epoch_cap: float | None,
    rng: np.random.Generator,
    max_skips: int = 64,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of one source, in seeded random order, until ``quota`` units are taken; and each row's merge key.

    Rows are taken in order while they fit in the quota; a row that would overshoot is skipped and the next
    rows are tried (until ``max_skips`` in a row do not fit), so the source never overshoots and ends short
    by less than the rows it skipped, whatever the stored order. The key ``(taken before + size / 2) / share`` places each row in the mixed
    stream so that every prefix of the stream is token-true as well. ``stratify``: the rows of a part of an
    epoch are spread evenly over the stored order (see :func:`_permuted_order`), then shuffled within
    their epoch.
    """
    n, total = sizes.size, float(sizes.sum())
    if n == 0 or quota <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    epochs = max(1, math.ceil(quota / total)) if total > 0 else 1
    order = _permuted_order(n, epochs, rng, stratify)
    if epoch_cap is not None:
        order = order[: int(round(epoch_cap * n))] if epoch_cap < epochs else order
    s = sizes[order].astype(np.float64)
    room = quota * (1 + 1e-9)  # float slack so that a quota equal to the whole source takes all of it
    cut = int(np.searchsorted(np.cumsum(s), room, side="right"))  # rows [0, cut) fit entirely
    left = room - float(s[:cut].sum())
    extra, skips = [], 0
    for j in range(cut, order.size):  # the boundary: skip rows that would overshoot, fill with later ones
        if s[j] <= left:
            extra.append(j)
            left -= s[j]
            skips = 0
        else:
            skips += 1
        if left < 1 or skips >= max_skips:
            break
    pos = np.concatenate([np.arange(cut), np.asarray(extra, dtype=np.int64)])
    if stratify:  # the stream order: random within each epoch, epochs still one after the other
        pos = pos[np.lexsort((rng.random(pos.size), pos // n))]
    rows = order[pos]
    size = sizes[rows].astype(np.float64)
    key = (np.cumsum(size) - size / 2) / share
    return rows, key


def _merge(plans: dict[str, tuple[np.ndarray, np.ndarray]], offsets: dict[str, int], seed: int) -> np.ndarray:
    """Global row indices of all sources, ordered by merge key (ties broken by a seeded random number)."""
    idx = np.concatenate([plans[s][0] + offsets[s] for s in plans])
    key = np.concatenate([plans[s][1] for s in plans])
    tie = np.random.default_rng([seed, 1]).random(key.size)
    return idx[np.lexsort((tie, key))]


def _too_small(
    name: str, n_docs: int | None, cap: float | None, need_units: float, have_units: float, unit: str
):
    epochs = need_units / max(have_units, 1e-12)
    size = f"{n_docs} docs, {have_units:.0f} {unit}" if n_docs is not None else f"{have_units:.0f} {unit}"
    return ValueError(
        f"source {name!r} is too small for its share: it has {size}, the mixture needs ~{need_units:.0f} "
        f"{unit} from it, i.e. {epochs:.2f} epochs, but max_epochs[{name!r}] is {cap}; raise "
        f"max_epochs[{name!r}] to >= {epochs:.2f}, lower its weight, or ask for a smaller mixture"
    )


def _streaming_mixture(
    parts: dict[str, Any],
    shares: dict[str, float],
    unit: str,
    epochs: dict[str, float | None],
    n_docs: dict[str, int | None],
    num_docs: int | None,
    num_tokens: int | None,
    seed: int,
    shuffle_buffer: int,
    features: Any,
) -> Any:
    """A streaming mixture: each source read in a seeded shuffled order (shards + buffer, a fresh order per
    epoch); the next row always comes from the source furthest behind its quota, so the shares hold for the
    tokens actually taken at every point of the stream; it ends when the first source runs out."""
    from datasets import IterableDataset

    names = list(parts)

    def rows(src: int):
        name = names[src]
        cap, n = epochs[name], n_docs[name]
        epoch = 0
        while cap is None or epoch < cap:
            ds = parts[name].shuffle(seed=seed * 1000 + 7919 * src + epoch, buffer_size=shuffle_buffer)
            limit = (
                int(round((cap - epoch) * n))
                if cap is not None and n is not None and cap - epoch < 1
                else None
            )
            seen = 0
            for row in ds:
                if limit is not None and seen >= limit:
                    break
                seen += 1
                yield row
            if seen == 0:
                return
            n = seen if n is None else n
            epoch += 1

    def generate():
        its = [rows(i) for i in range(len(names))]
        heads = [next(it, None) for it in its]
        taken = np.zeros(len(names))
        share = np.array([shares[s] for s in names])
        emitted = tokens = 0
        # with num_tokens each source stops at its own quota (as map-style); else the stream is cut at
        # num_docs, or ends when the first source runs out
        quota = share * num_tokens if num_tokens is not None and unit == "tokens" else None
        if num_tokens is not None and quota is None:  # docs unit: the token budget ends the stream
            quota = np.full(len(names), np.inf)
        done = np.zeros(len(names), dtype=bool)
        skips, max_skips = np.zeros(len(names), dtype=np.int64), 64
        while all(h is not None for i, h in enumerate(heads) if not done[i]) and not done.all():
            size = np.array(
                [0 if h is None else h["n_tokens"] if unit == "tokens" else 1 for h in heads],
                dtype=np.float64,
            )
            progress = np.where(done, np.inf, (taken + size / 2) / share)
            i = int(np.argmin(progress))
            if quota is not None and taken[i] + size[i] > quota[i] * (1 + 1e-9):
                # skip a row that would overshoot and try the next ones (as map-style), then stop the source
                skips[i] += 1
                heads[i] = next(its[i], None) if skips[i] < max_skips and taken[i] < quota[i] - 1 else None
                if heads[i] is None:
                    done[i] = True
                continue
            if num_tokens is not None and unit == "docs" and tokens + heads[i]["n_tokens"] / 2 >= num_tokens:
                return
            yield heads[i]
            taken[i] += size[i]
            skips[i] = 0
            tokens += int(heads[i]["n_tokens"])
            emitted += 1
            if num_docs is not None and emitted >= num_docs:
                return
            heads[i] = next(its[i], None)

    return IterableDataset.from_generator(generate, features=features)


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
    num_tokens: int | None = None,
    seed: int = 0,
    sample_docs: int = 10_000,
    shuffle_buffer: int = 10_000,
    stratify: bool = False,
) -> Mixture:
    """Mix ``sources`` so that each gets ``weights[name]`` of the tokens (``unit="tokens"``) or documents.

    Args:
        sources: name -> ``datasets.Dataset`` or ``IterableDataset`` with a text column.
        weights: name -> share, every source named, summing to 1 (0 drops a source). With ``alpha``, shares
            become ``w_i ** alpha`` (renormalised); with ``alpha`` and no weights, the natural shares come
            from the source sizes (tokens, or ``sizes`` for streaming sources): temperature sampling.
        unit: ``"tokens"`` (shares of tokens, counted with ``tokenizer``) or ``"docs"``.
        alpha: temperature: shares become ``w ** alpha``, renormalised.
        sizes: source sizes for ``alpha`` without weights when sources are streamed.
        text_column: the column of texts.
        tokenizer: None (default model's tokenizer), a tokenizer, ``"whitespace"`` or ``texts -> counts``.
        max_epochs: how often a source may be repeated (one value or per source; None = unbounded). Without
            ``num_docs``/``num_tokens`` the mixture ends when the first source runs out; a size the caps
            cannot provide is an error naming the source and the epochs it would need.
        num_docs: documents in the mixture (its first ``num_docs`` rows; every prefix is token-true).
        num_tokens: tokens in the mixture (no source exceeds its share of them).
        seed: fixes the order in which each source is drawn and the interleaving.
        sample_docs: streamed sources: documents read to measure the mean length.
        shuffle_buffer: streaming only, the ``IterableDataset.shuffle`` buffer of each source.
        stratify: map-style only. A source drawn for part of an epoch takes documents spread evenly over its
            stored order, not a simple random subset, so the part keeps the make-up of a source stored by
            origin (its languages, packages, or one long document cut into consecutive pieces); which
            documents are taken then varies less from seed to seed. Each epoch's documents are still
            shuffled.

    Documents are drawn in a seeded random order (a fresh permutation per epoch; streaming: shuffled shards
    and a shuffle buffer), never in stored order, and each source stops at the tokens it actually took, so
    no source exceeds its share, whatever the document lengths or their stored order.
    Map-style sources give a map-style mixture; if any source is streaming, all are streamed.

    Examples:

    ```python
    >>> mix = build_mixture({"web": web, "code": code}, {"web": 0.7, "code": 0.3})  # doctest: +SKIP
    >>> mix.dataset  # doctest: +SKIP
    ```
    """
    from datasets import Features, Value, concatenate_datasets

    if unit not in ("tokens", "docs"):
        raise ValueError(f"unit must be 'tokens' or 'docs', got {unit!r}")
    if not sources:
        raise ValueError("build_mixture needs at least one source")
    if num_docs is not None and num_docs < 1:
        raise ValueError(f"num_docs must be >= 1, got {num_docs}")
    if num_tokens is not None and num_tokens < 1:
        raise ValueError(f"num_tokens must be >= 1, got {num_tokens}")
    if num_docs is not None and num_tokens is not None:
        raise ValueError("give num_docs or num_tokens, not both")
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
    if stratify and streaming:
        raise ValueError("stratify needs map-style sources (a stream has no stored order to spread over)")
    need_counts = unit == "tokens" or num_tokens is not None or (alpha is not None and w is None)
    counter = make_counter(tokenizer) if need_counts else None
    counter = counter or (lambda texts: np.zeros(len(texts), dtype=np.int64))
    labelled, n_docs = {}, {}
    for name in names:
        ds = sources[name]
        if streaming and not _is_iterable_ds(ds):
            n_docs[name] = len(ds)
            ds = ds.to_iterable_dataset(num_shards=min(len(ds), 64) or 1)
        else:
            n_docs[name] = None if _is_iterable_ds(ds) else len(ds)
        labelled[name] = _label(ds, name, text_column, counter)

    mean = {s: _mean_tokens(s, labelled[s], sample_docs, seed) if need_counts else 1.0 for s in names}

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
    unit_mean = {s: mean[s] if unit == "tokens" else 1.0 for s in kept}
    raw = {s: w[s] / unit_mean[s] for s in kept}
    probs = {s: raw[s] / sum(raw.values()) for s in kept}  # expected document shares (for the report)
    units_per_doc = 1.0 / sum(w[s] / unit_mean[s] for s in kept)  # expected mixture units per document
    tokens_per_doc = sum(probs[s] * mean[s] for s in kept)

    feats = Features({text_column: Value("string"), "source": Value("string"), "n_tokens": Value("int64")})
    capacity: int | None = None
    if streaming:
        # sizes are known only for map-style sources turned into streams: check those caps up front
        target_tokens = num_tokens or (num_docs * tokens_per_doc if num_docs else None)
        for s in kept:
            if target_tokens and epochs[s] is not None and n_docs[s] is not None:
                have = n_docs[s] * mean[s]
                need = w[s] * target_tokens if unit == "tokens" else w[s] * num_docs if num_docs else 0
                have_u = have if unit == "tokens" else n_docs[s]
                if need > epochs[s] * have_u:
                    raise _too_small(s, n_docs[s], epochs[s], need, have_u, unit)
        endless = num_docs is None and num_tokens is None and all(epochs[s] is None for s in kept)
        if endless:
            warnings.warn("no epoch cap and no num_docs/num_tokens: the mixture is endless", stacklevel=2)
        mixed = _streaming_mixture(
            {s: labelled[s] for s in kept},
            {s: w[s] for s in kept},
            unit,
            epochs,
            n_docs,
            num_docs,
            num_tokens,
            seed,
            shuffle_buffer,
            feats,
        )
    else:
        endless = False
        size_col = {s: arrow_column(labelled[s], "n_tokens").astype(np.int64) for s in kept}
        unit_col = {s: size_col[s] if unit == "tokens" else np.ones(n_docs[s], np.int64) for s in kept}
        total = {s: float(unit_col[s].sum()) for s in kept}
        for s in kept:
            if total[s] <= 0:
                raise ValueError(f"source {s!r} has no tokens (all documents are empty)")
        caps = {s: epochs[s] * total[s] / w[s] for s in kept if epochs[s] is not None}
        limit = min(caps.values()) if caps else math.inf  # mixture units before the first source runs out
        if num_tokens is not None:
            target = float(num_tokens) if unit == "tokens" else num_tokens / tokens_per_doc
        elif num_docs is not None:
            target = num_docs * units_per_doc * 1.05
        else:
            target = (
                limit if caps else min(total[s] / w[s] for s in kept)
            )  # unbounded: one epoch of the first
        offsets = dict(zip(kept, np.cumsum([0] + [n_docs[s] for s in kept[:-1]]).tolist(), strict=True))
        base = concatenate_datasets([labelled[s] for s in kept])
        while True:
            units = min(target, limit)
            if num_docs is None and units < target * (1 - 1e-9):
                s = min(caps, key=caps.get)
                raise _too_small(s, n_docs[s], epochs[s], w[s] * target, total[s], unit)
            plans = {
                s: _plan_source(
                    unit_col[s],
                    w[s] * units,
                    w[s],
                    epochs[s],
                    np.random.default_rng([seed, i]),
                    stratify=stratify,
                )
                for i, s in enumerate(kept)
            }
            order = _merge(plans, offsets, seed)
            if num_docs is None or order.size >= num_docs:
                break
            if units >= limit:  # the caps cannot give num_docs rows
                s = min(caps, key=caps.get)
                need = w[s] * units * num_docs / max(order.size, 1)
                raise _too_small(s, n_docs[s], epochs[s], need, total[s], unit)
            target = units * 1.5 * num_docs / max(order.size, 1)
        if num_docs is not None:
            order = order[:num_docs]
        capacity = int(order.size)
        mixed = base.select(order)
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
        stratify=stratify,
    )
