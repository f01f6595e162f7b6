"""The tokenized data every proxy reads: tokenized once per search, checked, pickled for the workers.

:func:`prepare` turns the user's sources and validation (and test) sets into a :class:`SearchSpace` and a
:class:`DataBundle`; every input error is raised there, before any training. Proxy processes load the bundle
from the search's cache folder (:func:`save_bundle`, :func:`load_bundle`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.mixture.space import SearchSpace, scored_as_test

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


def pack_blocks(arrays: Sequence[np.ndarray], eos: int, seq_len: int) -> np.ndarray:
    """Pack documents (EOS after each) into ``seq_len`` blocks; the remainder is dropped."""
    flat = np.concatenate([np.append(a, eos) for a in arrays]) if arrays else np.zeros(0, np.int32)
    n = flat.size // seq_len
    return flat[: n * seq_len].reshape(n, seq_len).astype(np.int64)


def eval_blocks(arrays: Sequence[np.ndarray], eos: int, seq_len: int, eval_tokens: int) -> np.ndarray:
    """At most ``eval_tokens`` of a validation set, as blocks evenly spaced over all of its documents.

    Not its first ``eval_tokens``: a validation set in file order (one language's catalogues, one package's
    modules) would then stand for the whole domain; spaced blocks cover every part in proportion to its size.
    """
    return spaced_blocks(pack_blocks(arrays, eos, seq_len), max(eval_tokens // seq_len, 1))


def spaced_blocks(blocks: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``blocks`` evenly spaced from first to last (all of them if there are no more than ``n``)."""
    if len(blocks) <= n:
        return blocks
    return blocks[np.linspace(0, len(blocks) - 1, n).round().astype(np.int64)]


@dataclass
class DataBundle:
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


def load_bundle(path: str) -> DataBundle:
    if path not in _DATA_CACHE:
        import pickle

        with open(path, "rb") as fh:
            _DATA_CACHE[path] = pickle.load(fh)  # noqa: S301 - written by this process's parent
    return _DATA_CACHE[path]


def cached_tokenizer(path: str | None) -> Any:
    key = f"tok:{path}"
    if key not in _DATA_CACHE:
        from hf_addons.models import load_tokenizer

        _DATA_CACHE[key] = load_tokenizer(path)
    return _DATA_CACHE[key]


def _per_source(
    value: float | Mapping[str, float] | None, names: Sequence[str], default: float | None, what: str
):
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"{what} names source(s) {unknown} that are not in the search {list(names)}")
        return {s: float(value[s]) if s in value else default for s in names}
    return {s: default if value is None else float(value) for s in names}


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
) -> tuple[SearchSpace, DataBundle, Any]:
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
    bundle = DataBundle(texts, ids, val_blocks, tok_path, fp.hexdigest()[:16], by_freq, stratify)
    return space, bundle, tok


def tokenizer_digest(tok: Any) -> str:
    """What a tokenizer maps text to (its vocabulary and EOS), not where it was loaded from: the default
    tokenizer is read from one cache folder or another depending on whether the model was converted, and a
    run keyed by the folder would not be found again."""
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: (kv[1], kv[0]))
    return hashlib.sha256(json.dumps([vocab, tok.eos_token_id]).encode()).hexdigest()[:16]


def save_bundle(bundle: DataBundle, cache_dir: str | Path) -> Path:
    """Pickle the tokenized data once per search into ``cache_dir`` (proxy processes load it from there)."""
    import pickle

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"bundle-{bundle.fingerprint}.pkl"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(bundle, fh)
        os.replace(tmp, path)
    return path
