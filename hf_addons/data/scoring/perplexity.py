"""Perplexity scoring with any causal LM, and CCNet-style filtering on whole-dataset percentile buckets.

Scoring is a step (``dataset.map(PerplexityScorer(), batched=True)``): documents (or, CCNet-style, their lines)
are tokenised in one call, cut into sliding windows when longer than the model's context, sorted by length and
packed into batches under a token budget, so padding stays small and one forward pass serves many documents.
The LM head then runs only on the scored positions, and bf16 is the default wherever the hardware multiplies
it natively (GPUs, CPUs with AMX/AVX512-BF16). On CPU, Llama-architecture models run through a fused decoder
(one ``torch.compile``d function per layer shape, verified against the model on a probe) because there
elementwise work, not the matmuls, dominated the eager forward. Filtering is a second
pass: ``PerplexityFilter.from_dataset`` computes the cutoffs over the whole ``perplexity`` column (not per
batch, which would make the buckets depend on batch order), then runs as a filter step.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hf_addons.compile_policy import RentOrBuy
from hf_addons.data.base import (
    Batch,
    FilterStep,
    arrow_column,
    check_texts,
    register_step,
    require_columns,
)
from hf_addons.data.scoring.batching import merge_groups, pad_group, plan_batches, truncate_per_owner
from hf_addons.data.scoring.fused_llama import FusedLlamaDecoder
from hf_addons.data.scoring.lm import LMStep
from hf_addons.data.scoring.lm_head import compiled_target_logprob, head_logprobs, token_logprobs

BUCKETS = ("head", "middle", "tail")
# fused="auto" builds the fused CPU path once eager scoring has taken this long: about one warm compile, so a
# short job never waits for a compile it cannot win back and a corpus job switches after a few seconds
FAST_PATH_AFTER_S = 10.0
#: real tokens per forward pass of the fused CPU decoder (several attention batches share its matmuls)
FUSED_TOKENS_PER_PASS = 8192


@register_step("perplexity")
class PerplexityScorer(LMStep):
    """Adds ``perplexity``, ``perplexity_logprob`` (mean token log-prob), ``perplexity_tokens`` (tokens scored)
    and ``perplexity_error`` (``""``, ``"empty"``) to a batch of documents.

    Exact by default: a model loaded here runs in fp32 and the scores equal a plain per-document fp32 loop to
    rounding (~1e-6 relative). ``dtype="bfloat16"`` (or ``"auto"``: bf16 on GPUs and on CPUs with native bf16
    matmul, :func:`~hf_addons.hardware.cpu_has_fast_bf16`) is faster and moves each document's perplexity by
    about 1%: median 0.6%, max 3.1% relative to fp32 on 64 article paragraphs with SmolLM2-135M (fused bf16:
    0.7% / 2.9%; ``bench_perplexity.py --part precision``, docs/data-quality.md).

    The LM head runs only on the positions that are scored (no padding, no sliding-window context), chunked,
    with logsumexp in fp32, when the model's logits are a plain ``lm_head(decoder(...))`` (checked once).
    ``fused`` runs Llama-architecture decoders (Llama, SmolLM2, Mistral without sliding windows; checked
    module by module) through :class:`~hf_addons.data.scoring.fused_llama.FusedLlamaDecoder`: several planned
    batches share one pass (up to ``FUSED_TOKENS_PER_PASS`` real tokens) with no padding outside attention,
    q|k|v and gate|up as one matmul each (on oneDNN-packed weights in bf16), the elementwise work between them
    compiled (compiled once per process: ~4-30 s the first time), and a compiled fp32 log-softmax over the
    head's chunks. It is compared with the model's own forward on probes before use; a model that differs, or
    a machine where ``torch.compile`` fails, falls back (``fast_path`` says which ran and why).

    Args:
        model: a causal LM, its name or path, or None for the embedded default (SmolLM2-135M-Instruct).
        tokenizer: its tokenizer (default: the model's own).
        text_column: the column of texts to score.
        window: the longest sequence one forward pass sees (default: the model's context, at most 2048);
            longer documents are scored with sliding windows.
        stride: tokens the sliding window advances (default window/2), so every token after the first window
            is predicted from at least ``window - stride`` tokens of context.
        max_tokens: truncate each document to this many tokens first (None: score everything).
        tokens_per_batch: padded tokens per forward pass (default 2048 on CPU, 16384 on GPU).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when present).
        dtype: None (default): fp32 for a model loaded here, a model object keeps its own dtype;
            ``"float32"``/``"bfloat16"`` (``"fp32"``/``"bf16"``) cast it; ``"auto"``: bf16 on GPUs and CPUs
            with native bf16 matmul, else fp32.
        add_bos: score the first token after a BOS token (as the model was trained).
        unit: ``"document"`` scores each text as one sequence; ``"line"`` scores as CCNet does: every
            non-empty line on its own (after BOS), the document's perplexity over all its lines' tokens, so
            boilerplate lines get no article context to lean on.
        fused: ``"auto"`` (default) is rent-or-buy on CPU (:mod:`hf_addons.compile_policy`): eager until this
            scorer has spent ``FAST_PATH_AFTER_S`` seconds scoring, then the fused path (a corpus job pays
            the compile once; a few documents never wait for it), off on GPUs; True: fused at once; False:
            the plain eager forward.
        fast: deprecated name of ``fused`` (None meant ``"auto"``).

    Examples:

    ```python
    >>> from hf_addons.data import PerplexityScorer
    >>> scorer = PerplexityScorer()  # the embedded SmolLM2-135M, fp32
    >>> scorer.score(["The cat sat on the mat.", "mat the on sat cat The"])["perplexity"]  # doctest: +SKIP
    array([ 48.9, 2230.7])
    ```
    """

    name = "perplexity"
    default_dtype = "float32"  # exact unless asked otherwise (a model object keeps its own dtype)

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
        fused: bool | str = "auto",
        fast: bool | None | str = "unset",
    ) -> None:
        if fast != "unset":
            warnings.warn(
                "PerplexityScorer(fast=...) is deprecated; use fused=True/False/'auto'",
                DeprecationWarning,
                stacklevel=2,
            )
            if fast not in (None, True, False):
                raise ValueError(f"fast must be True, False or None (auto), got {fast!r}")
            fused = "auto" if fast is None else fast
        if fused not in ("auto", True, False):
            raise ValueError(f"fused must be True, False or 'auto', got {fused!r}")
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
        self.fused = fused
        self.fast_path = "not decided (decided on the first batch)"
        self._lm: tuple[Any, Any] | None = None
        self._head: tuple[Any, ...] | None = None
        self._fused: tuple[Any, Any] | None = None
        self._meter = RentOrBuy(FAST_PATH_AFTER_S)  # fused="auto": eager scoring time so far
        self._buffers: dict[Any, Any] = {}  # the head's logits block, reused across batches

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

    def _fast_path(self, model: Any, split: Any, device: Any) -> tuple[Any, Any]:
        """``(fused decoder or None, compiled log-prob fn or None)``, decided once; ``fast_path`` says why."""
        if self._fused is not None:
            return self._fused
        if self._meter is None:  # unpickled in a worker: its eager time starts again
            self._meter = RentOrBuy(FAST_PATH_AFTER_S)
        if self.fused == "auto" and device.type == "cpu" and not self._meter.due():
            self.fast_path = self._meter.waiting_message("fused='auto': the fused path") + (
                "; fused=True builds it at once"
            )
            return None, None
        on = self.fused if self.fused != "auto" else device.type == "cpu"
        fused, logprob_fn, why = None, None, "off (fused=False)" if self.fused is False else "off (not CPU)"
        if on and split is None:
            why = "off (logits are not lm_head(decoder(...)))"
        elif on:
            logprob_fn = compiled_target_logprob(split[1], device)
            fused, why = FusedLlamaDecoder.build(model, split[0])
            if logprob_fn is None:
                why += "; head log-softmax eager (torch.compile failed)"
        self._fused, self.fast_path = (fused, logprob_fn), why
        return self._fused

    def score(self, texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """Per-text ``perplexity``, ``logprob`` (mean), ``tokens`` (scored count; 0 = empty, NaN scores)."""
        import torch

        model, tok = self._load()
        if self._buffers is None:  # unpickled in a worker
            self._buffers = {}
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
            ids = truncate_per_owner(ids, owner, self.max_tokens, len(prefix))

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
            fast = self._fast_path(model, split, device)
            bounds = plan_batches(lens[order], budget, overhead=budget // 4)
            groups = [order[i:j] for i, j in zip(bounds[:-1], bounds[1:], strict=True)]
            fused, logprob_fn = fast
            # the fused path runs the matmuls of several attention groups at once (real tokens only): on the
            # 2-core AMX test CPU oneDNN's bf16 matmuls run up to 2x faster per row from ~1400 rows on
            passes = (
                merge_groups(groups, lens, FUSED_TOKENS_PER_PASS)
                if fused is not None
                else [[g] for g in groups]
            )
            started = time.perf_counter() if self._fused is None else None
            with torch.inference_mode():
                for groups_ in passes:
                    batch = [pad_group(take, segs, lens_t, starts_t, pad) for take in groups_]
                    if split is not None:
                        decoder, head = split
                        if fused is not None:  # the real tokens only, packed row after row, group after group
                            packed = fused.forward_groups(
                                [(g.input_ids.to(device), g.lengths) for g in batch]
                            )
                            picks, offset = [], 0
                            for g in batch:
                                before = offset + (g.lengths.cumsum(0) - g.lengths)[:, None]
                                picks.append((before + torch.arange(g.mask.shape[1])[None])[g.mask])
                                offset += int(g.lengths.sum())
                            scored = packed[torch.cat(picks).to(device)]
                        else:
                            (g,) = batch
                            hidden = decoder(
                                input_ids=g.input_ids.to(device), attention_mask=g.attn.to(device)
                            ).last_hidden_state
                            scored = hidden[:, :-1][g.mask.to(device)]
                        # the LM head runs only on scored positions: no padding, no window context rows
                        targets = torch.cat([g.input_ids[:, 1:][g.mask] for g in batch])
                        lp = (
                            head_logprobs(
                                head,
                                scored,
                                targets.to(device),
                                rows=1024 if device.type == "cpu" else 256,
                                logprob_fn=logprob_fn,
                                buffers=self._buffers,
                            )
                            .double()
                            .cpu()
                        )
                        # row-major, as the masks pick
                        row_doc = torch.cat([docs_t[g.sel].repeat_interleave(g.mask.sum(1)) for g in batch])
                        total.index_add_(0, row_doc, lp)
                    else:
                        (g,) = batch
                        logits = model(
                            input_ids=g.input_ids.to(device), attention_mask=g.attn.to(device)
                        ).logits
                        # targets shifted left (last column is a dummy) so the logits need no sliced copy
                        targets = torch.nn.functional.pad(g.input_ids[:, 1:], (0, 1), value=pad)
                        lp = token_logprobs(logits, targets.to(device))[:, :-1].double().cpu()
                        total.index_add_(0, docs_t[g.sel], (lp * g.mask).sum(1))
                    for g in batch:
                        count.index_add_(0, docs_t[g.sel], g.mask.sum(1).double())
            if started is not None:
                self._meter.charge(time.perf_counter() - started)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (total / count).numpy()
        return {"perplexity": np.exp(-mean), "logprob": mean, "tokens": count.numpy().astype(np.int64)}


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
            return np.asarray(arrow_column(data, column), dtype=float)
        parts = [
            np.asarray(b[column], dtype=float) for b in data.select_columns([column]).iter(batch_size=8192)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.asarray(list(data) if isinstance(data, Iterable) else data, dtype=float)


def perplexity_cutoffs(values: Any, quantiles: Sequence[float] = (1 / 3, 2 / 3), column: str = "perplexity"):
    """Bucket edges at ``quantiles`` of the finite values over the whole data (CCNet: terciles).

    Args:
        values: perplexities (array, list, a ``Dataset`` or ``IterableDataset`` with ``column``).
        quantiles: where the edges go (CCNet: terciles).
        column: the column read from a dataset.

    Examples:

    ```python
    >>> perplexity_cutoffs([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    [2.666..., 4.333...]
    ```
    """
    q = list(quantiles)
    if not q or any(not 0 < x < 1 for x in q) or q != sorted(q):
        raise ValueError(f"quantiles must be increasing and inside (0, 1), got {q}")
    v = column_values(values, column)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("perplexity cutoffs: no finite perplexity values to compute buckets from")
    return np.quantile(v, q).tolist()


@register_step("perplexity_filter")
class PerplexityFilter(FilterStep):
    """Keep/reject on ``perplexity``: absolute bounds and/or whole-dataset percentile buckets.

    With ``cutoffs`` (from :func:`perplexity_cutoffs` or :meth:`from_dataset`) each row gets a
    ``perplexity_bucket`` (``head`` = lowest perplexity, ``middle``, ``tail`` for CCNet's three buckets;
    ``bucket<i>`` for other counts) and rows outside ``keep`` are rejected with reason
    ``perplexity:<bucket>``. Rows without a finite score (empty documents) are rejected as
    ``perplexity:missing``.

    Args:
        max_perplexity: reject rows above it (None: no upper bound).
        min_perplexity: reject rows below it (None: no lower bound).
        cutoffs: bucket boundaries over the whole dataset (:func:`perplexity_cutoffs`).
        keep: the buckets kept.
        column: the column of perplexities.

    Examples:

    ```python
    >>> f = PerplexityFilter(cutoffs=[10.0, 100.0])
    >>> f({"perplexity": [5.0, 50.0, 500.0]})["perplexity_bucket"]
    ['head', 'middle', 'tail']
    ```
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
