"""Perplexity scoring with any causal LM, and CCNet-style filtering on whole-dataset percentile buckets.

Scoring is a step (``dataset.map(PerplexityScorer(), batched=True)``): documents (or, CCNet-style, their lines)
are tokenised in one call, cut into sliding windows when longer than the model's context, sorted by length and
packed into batches under a token budget, so padding stays small and one forward pass serves many documents.
The LM head then runs only on the scored positions, and bf16 is the default wherever the hardware multiplies
it natively (GPUs, CPUs with AMX/AVX512-BF16). Filtering is a second
pass: ``PerplexityFilter.from_dataset`` computes the cutoffs over the whole ``perplexity`` column (not per
batch, which would make the buckets depend on batch order), then runs as a filter step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hf_addons.data.base import Batch, FilterStep, Step, require_columns
from hf_addons.hardware import cpu_has_fast_bf16

BUCKETS = ("head", "middle", "tail")


def check_texts(texts: Sequence[Any], column: str, step: str) -> None:
    """Raise naming the column when it holds something other than strings (``None`` counts as empty)."""
    bad = next((t for t in texts if t is not None and not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(
            f"{step}: column {column!r} must hold text, found {type(bad).__name__} ({str(bad)[:40]!r}); "
            "pass text_column=<the name of a string column>"
        )


def resolve_device_dtype(device: str | None, dtype: Any) -> tuple[str, Any]:
    """Device default CUDA else CPU. dtype default: bf16 on GPU and on CPUs with native bf16 matmul
    (:func:`cpu_has_fast_bf16`), fp32 on other CPUs; ``"bf16"``/``"fp32"`` pick one explicitly."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None or dtype == "auto":
        fast = str(device).startswith("cuda") or (str(device) == "cpu" and cpu_has_fast_bf16())
        dtype = torch.bfloat16 if fast else torch.float32
    elif isinstance(dtype, str):
        names = {
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
            "fp32": torch.float32,
            "float32": torch.float32,
        }
        if dtype not in names:
            raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(names)}")
        dtype = names[dtype]
    return str(device), dtype


def load_lm(model: Any, tokenizer: Any, device: str | None, dtype: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a name/path/None (the default model) or from objects already loaded.

    A model loaded here gets the default dtype of :func:`resolve_device_dtype`; a model object passed in keeps
    its own dtype unless ``dtype`` is given (the cast is in place, so it is never done silently)."""
    from hf_addons.models import load_model, load_tokenizer

    keep_dtype = dtype is None and not (model is None or isinstance(model, (str, os.PathLike)))
    device, dtype = resolve_device_dtype(device, dtype)
    if model is None or isinstance(model, (str, os.PathLike)):
        lm, tok = load_model(model, device=device, dtype=dtype)
        return lm, tokenizer if tokenizer is not None else tok
    if tokenizer is None:
        tokenizer = load_tokenizer(getattr(model.config, "name_or_path", None) or None)
    if keep_dtype:
        return model.to(device=device).eval(), tokenizer
    return model.to(device=device, dtype=dtype).eval(), tokenizer


class LazyState:
    """Loaded models live in ``_``-prefixed attributes and are dropped when pickled: workers reload them."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: None if k.startswith("_") else v for k, v in vars(self).items()}


class LMStep(LazyState, Step):
    """A step that runs a causal LM given as ``model``/``tokenizer``/``device``/``dtype``, loaded on first use."""

    model: Any
    tokenizer: Any
    device: str | None
    dtype: Any
    _lm: tuple[Any, Any] | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._lm is None:
            self._lm = load_lm(self.model, self.tokenizer, self.device, self.dtype)
        return self._lm


class PerplexityScorer(LMStep):
    """Adds ``perplexity``, ``perplexity_logprob`` (mean token log-prob), ``perplexity_tokens`` (tokens scored)
    and ``perplexity_error`` (``""``, ``"empty"``) to a batch of documents.

    ``window`` is the longest sequence one forward pass sees (default: the model's context, at most 2048);
    longer documents are scored with sliding windows that advance by ``stride`` tokens (default window/2), so
    every token after the first window is predicted from at least ``window - stride`` tokens of context.
    ``max_tokens`` truncates documents first (None: score everything). ``tokens_per_batch`` bounds
    padded tokens per forward pass (default 2048 on CPU, 16384 on GPU).

    ``unit="line"`` scores as CCNet does: every non-empty line is scored on its own (after BOS) and the
    document's perplexity is ``exp(-sum of token log-probs / tokens)`` over all its lines. Boilerplate lines
    (menus, share buttons, footers) then get no article context to lean on, which is what exposes them; with
    ``max_tokens`` the lines are taken in order until the document's budget is spent. The default
    ``unit="document"`` scores each text as one sequence.

    The LM head runs only on the positions that are scored (no padding, no sliding-window context), chunked,
    with logsumexp in fp32, when the model's logits are a plain ``lm_head(decoder(...))`` (checked once).
    """

    name = "perplexity"

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        *,
        text_column: str = "text",
        window: int | None = None,
        stride: int | None = None,
        max_tokens: int | None = None,
        tokens_per_batch: int | None = None,
        device: str | None = None,
        dtype: Any = None,
        add_bos: bool = True,
        unit: str = "document",
    ) -> None:
        if unit not in ("document", "line"):
            raise ValueError(f"unit must be 'document' or 'line', got {unit!r}")
        if window is not None and window < 2:
            raise ValueError(f"window must be >= 2 tokens, got {window}")
        if stride is not None and (stride < 1 or (window is not None and stride > window - 1)):
            raise ValueError(f"stride must be in [1, window-1], got {stride} for window {window}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.text_column = text_column
        self.window = window
        self.stride = stride
        self.max_tokens = max_tokens
        self.tokens_per_batch = tokens_per_batch
        self.device = device
        self.dtype = dtype
        self.add_bos = add_bos
        self.unit = unit
        self._lm: tuple[Any, Any] | None = None
        self._head: tuple[Any, ...] | None = None

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], "PerplexityScorer")
        texts = batch[self.text_column]
        check_texts(texts, self.text_column, "PerplexityScorer")
        res = self.score(texts)
        errors = np.where(res["tokens"] == 0, "empty", "").tolist()
        return {
            "perplexity": res["perplexity"].tolist(),
            "perplexity_logprob": res["logprob"].tolist(),
            "perplexity_tokens": res["tokens"].tolist(),
            "perplexity_error": errors,
        }

    # -- scoring -------------------------------------------------------------------------------------------
    def _segments(self, ids: list[list[int]], window: int, stride: int):
        """Sliding windows: (doc index, token slice, first scored position inside the slice)."""
        docs, segs, starts = [], [], []
        for d, seq in enumerate(ids):
            n = len(seq)
            if n < 2:
                continue
            begin, scored_to = 0, 1  # targets [1, scored_to) are done
            while True:
                end = min(begin + window, n)
                docs.append(d)
                segs.append(seq[begin:end])
                starts.append(scored_to - begin)
                scored_to = end
                if end == n:
                    break
                begin += stride
        return docs, segs, starts

    def _split_head(self, model: Any) -> tuple[Any, Any] | None:
        """``(decoder, lm_head)`` when this model's logits are exactly ``lm_head(decoder(...)[0])``, checked
        once on a short input (models that scale or soft-cap logits fail the check and use full logits)."""
        if self._head is not None:
            return self._head or None
        self._head = ()
        get_decoder = getattr(model, "get_decoder", None)
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        decoder = get_decoder() if callable(get_decoder) else None
        if decoder is None or decoder is model or not callable(head):
            return None
        import torch

        device = next(model.parameters()).device
        ids = torch.arange(1, 9, device=device)[None, :] % head.weight.shape[0]
        with torch.inference_mode():
            try:
                want = model(input_ids=ids).logits.float()
                got = head(decoder(input_ids=ids).last_hidden_state).float()
            except (TypeError, AttributeError, RuntimeError):
                return None
        if want.shape == got.shape and torch.allclose(want, got, rtol=1e-3, atol=1e-3):
            self._head = (decoder, head)
        return self._head or None

    def score(self, texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """Per-text ``perplexity``, ``logprob`` (mean), ``tokens`` (scored count; 0 = empty, NaN scores)."""
        import torch

        model, tok = self._load()
        device = next(model.parameters()).device
        ctx = getattr(model.config, "max_position_embeddings", None) or getattr(
            model.config, "n_positions", 2048
        )
        window = min(self.window or min(ctx, 2048), ctx)
        stride = self.stride or max(1, window // 2)
        if stride >= window:
            raise ValueError(f"stride {stride} must be smaller than the window {window}")
        budget = self.tokens_per_batch or (16384 if device.type == "cuda" else 2048)
        budget = max(budget, window)

        clean = ["" if t is None else t for t in texts]
        n_docs = len(clean)
        if self.unit == "line":  # every non-empty line is its own sequence, owned by its document
            pieces = [[ln.strip() for ln in t.split("\n")] for t in clean]
            owner = np.repeat(np.arange(n_docs), [sum(map(bool, p)) for p in pieces])
            pieces = [ln for p in pieces for ln in p if ln]
        else:
            pieces, owner = clean, np.arange(n_docs)
        ids = tok(pieces, add_special_tokens=False)["input_ids"] if pieces else []
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        prefix = [bos] if self.add_bos and bos is not None else []
        ids = [prefix + s if s else [] for s in ids]  # an empty text stays empty: nothing to predict
        if self.max_tokens is not None:
            ids = _truncate_per_owner(ids, owner, self.max_tokens, len(prefix))

        total = torch.zeros(n_docs, dtype=torch.float64)
        count = torch.zeros(n_docs, dtype=torch.float64)
        docs, segs, starts = self._segments(ids, window, stride)
        docs = owner[np.asarray(docs, dtype=np.int64)].tolist()
        if segs:
            lens = np.fromiter((len(s) for s in segs), dtype=np.int64, count=len(segs))
            order = np.argsort(-lens, kind="stable")
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            docs_t = torch.tensor(docs)
            starts_t = torch.tensor(starts)
            lens_t = torch.from_numpy(lens)
            split = self._split_head(model)
            i = 0
            with torch.inference_mode():
                while i < len(order):
                    width = int(lens[order[i]])
                    take = order[i : i + max(1, budget // width)]
                    i += len(take)
                    sel = torch.from_numpy(take)
                    rows = [torch.tensor(segs[j]) for j in take.tolist()]
                    input_ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad)
                    seg_len = lens_t[sel]
                    pos = torch.arange(width)
                    attn = (pos[None, :] < seg_len[:, None]).long()
                    tgt = pos[1:]
                    # scored targets: past the window's context part and before its padding
                    mask = (tgt[None, :] >= starts_t[sel][:, None]) & (tgt[None, :] < seg_len[:, None])
                    if split is not None:
                        decoder, head = split
                        hidden = decoder(
                            input_ids=input_ids.to(device), attention_mask=attn.to(device)
                        ).last_hidden_state
                        # the LM head runs only on scored positions: no padding, no window context rows
                        lp = (
                            _head_logprobs(
                                head, hidden[:, :-1][mask.to(device)], input_ids[:, 1:][mask].to(device)
                            )
                            .double()
                            .cpu()
                        )
                        row_doc = docs_t[sel].repeat_interleave(mask.sum(1))  # row-major, as mask picks
                        total.index_add_(0, row_doc, lp)
                    else:
                        logits = model(input_ids=input_ids.to(device), attention_mask=attn.to(device)).logits
                        # targets shifted left (last column is a dummy) so the logits need no sliced copy
                        targets = torch.nn.functional.pad(input_ids[:, 1:], (0, 1), value=pad)
                        lp = _token_logprobs(logits, targets.to(device))[:, :-1].double().cpu()
                        total.index_add_(0, docs_t[sel], (lp * mask).sum(1))
                    count.index_add_(0, docs_t[sel], mask.sum(1).double())
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (total / count).numpy()
        return {"perplexity": np.exp(-mean), "logprob": mean, "tokens": count.numpy().astype(np.int64)}


def _truncate_per_owner(ids: list[list[int]], owner: np.ndarray, max_tokens: int, n_prefix: int):
    """Keep each owner's first ``max_tokens`` text tokens across its pieces in order (the prefix is free)."""
    lens = np.fromiter((max(len(s) - n_prefix, 0) for s in ids), dtype=np.int64, count=len(ids))
    before = np.cumsum(lens) - lens
    before -= before[np.searchsorted(owner, owner, side="left")]  # tokens of earlier pieces, same owner
    allowed = np.clip(max_tokens - before, 0, None).tolist()
    return [s[: n_prefix + a] if a > 0 else [] for s, a in zip(ids, allowed, strict=True)]


def _head_logprobs(head: Any, hidden: Any, targets: Any, rows: int = 256) -> Any:
    """log p(target) for ``hidden`` rows (N x H) through the LM ``head``, ``rows`` at a time: the full-vocab
    logits exist only as a ``rows x vocab`` fp32 block, and logsumexp/gather run in fp32 on it."""
    import torch

    out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
    for i in range(0, hidden.shape[0], rows):
        x = head(hidden[i : i + rows]).float()
        out[i : i + rows] = x.gather(-1, targets[i : i + rows, None]).squeeze(-1) - x.logsumexp(-1)
    return out


def _token_logprobs(logits: Any, targets: Any, rows: int = 1024) -> Any:
    """log p(target) per position in fp32, a chunk of rows at a time: only ``rows x vocab`` temporaries,
    never a second (batch x length x vocab) tensor."""
    import torch

    flat = logits.reshape(-1, logits.shape[-1])
    tgt = targets.reshape(-1, 1)
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    for i in range(0, flat.shape[0], rows):
        x = flat[i : i + rows].float()
        out[i : i + rows] = x.gather(-1, tgt[i : i + rows]).squeeze(-1) - x.logsumexp(-1)
    return out.view(targets.shape)


# -- filtering --------------------------------------------------------------------------------------------
def column_values(data: Any, column: str = "perplexity") -> np.ndarray:
    """All values of ``column`` as floats from a Dataset, IterableDataset, dict of columns or sequence."""
    if isinstance(data, dict):
        require_columns(data, [column], "perplexity cutoffs")
        return np.asarray(data[column], dtype=float)
    names = getattr(data, "column_names", None)
    if names is not None:
        if column not in names:
            raise KeyError(f"perplexity cutoffs: the dataset has no column {column!r}; it has {names}")
        if hasattr(data, "__len__"):  # map-style: read the Arrow column directly
            from hf_addons.data.mixture import arrow_column

            return np.asarray(arrow_column(data, column), dtype=float)
        parts = [
            np.asarray(b[column], dtype=float) for b in data.select_columns([column]).iter(batch_size=8192)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.asarray(list(data) if isinstance(data, Iterable) else data, dtype=float)


def perplexity_cutoffs(values: Any, quantiles: Sequence[float] = (1 / 3, 2 / 3), column: str = "perplexity"):
    """Bucket edges at ``quantiles`` of the finite values over the whole data (CCNet: terciles)."""
    q = list(quantiles)
    if not q or any(not 0 < x < 1 for x in q) or q != sorted(q):
        raise ValueError(f"quantiles must be increasing and inside (0, 1), got {q}")
    v = column_values(values, column)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("perplexity cutoffs: no finite perplexity values to compute buckets from")
    return np.quantile(v, q).tolist()


class PerplexityFilter(FilterStep):
    """Keep/reject on ``perplexity``: absolute bounds and/or whole-dataset percentile buckets.

    With ``cutoffs`` (from :func:`perplexity_cutoffs` or :meth:`from_dataset`) each row gets a
    ``perplexity_bucket`` (``head`` = lowest perplexity, ``middle``, ``tail`` for CCNet's three buckets;
    ``bucket<i>`` for other counts) and rows outside ``keep`` are rejected with reason
    ``perplexity:<bucket>``. Rows without a finite score (empty documents) are rejected as
    ``perplexity:missing``.
    """

    name = "perplexity"

    def __init__(
        self,
        max_perplexity: float | None = None,
        min_perplexity: float | None = None,
        *,
        cutoffs: Sequence[float] | None = None,
        keep: Sequence[str] = ("head", "middle"),
        column: str = "perplexity",
    ) -> None:
        if max_perplexity is None and min_perplexity is None and cutoffs is None:
            raise ValueError("PerplexityFilter needs max_perplexity, min_perplexity or cutoffs")
        self.max_perplexity = max_perplexity
        self.min_perplexity = min_perplexity
        self.cutoffs = None if cutoffs is None else [float(c) for c in cutoffs]
        self.column = column
        self.keep = tuple(keep)
        if self.cutoffs is not None:
            unknown = set(self.keep) - set(self.bucket_names)
            if unknown:
                raise ValueError(
                    f"keep names unknown buckets {sorted(unknown)}; buckets are {self.bucket_names}"
                )

    @property
    def bucket_names(self) -> list[str]:
        n = len(self.cutoffs or []) + 1
        return list(BUCKETS) if n == 3 else [f"bucket{i}" for i in range(n)]

    @classmethod
    def from_dataset(
        cls,
        data: Any,
        *,
        quantiles: Sequence[float] = (1 / 3, 2 / 3),
        keep: Sequence[str] = ("head", "middle"),
        column: str = "perplexity",
        **kwargs: Any,
    ) -> PerplexityFilter:
        """Second pass of the two-pass API: cutoffs over the whole scored column, then a filter step."""
        return cls(cutoffs=perplexity_cutoffs(data, quantiles, column), keep=keep, column=column, **kwargs)

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.column], "PerplexityFilter")
        v = np.asarray([math.nan if x is None else x for x in batch[self.column]], dtype=float)
        reasons = np.full(v.shape, "", dtype=object)
        out: Batch = {}
        if self.cutoffs is not None:
            names = np.asarray(self.bucket_names, dtype=object)
            bucket = names[np.searchsorted(np.asarray(self.cutoffs), v, side="right")]
            bucket = np.where(np.isfinite(v), bucket, "")
            out[f"{self.name}_bucket"] = bucket.tolist()
            reasons = np.where(np.isin(bucket, self.keep), reasons, "perplexity:" + bucket.astype(str))
        if self.min_perplexity is not None:
            reasons = np.where(v < self.min_perplexity, "perplexity:below_min", reasons)
        if self.max_perplexity is not None:
            reasons = np.where(v > self.max_perplexity, "perplexity:above_max", reasons)
        reasons = np.where(np.isfinite(v), reasons, "perplexity:missing")
        out.update(self.decisions(reasons.tolist()))
        return out
