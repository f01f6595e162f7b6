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
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from hf_addons.data.base import Batch, FilterStep, Step, require_columns
from hf_addons.hardware import cpu_has_fast_bf16

BUCKETS = ("head", "middle", "tail")
# fast=None builds the fused CPU path once eager scoring has taken this long: about one warm compile, so a
# short job never waits for a compile it cannot win back and a corpus job switches after a few seconds
FAST_PATH_AFTER_S = 10.0
#: real tokens per forward pass of the fused CPU decoder (several attention batches share its matmuls)
FUSED_TOKENS_PER_PASS = 8192


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

    ``fast=True`` runs Llama-architecture decoders (Llama, SmolLM2, Mistral without sliding
    windows; checked module by module) through :class:`FusedLlamaDecoder`: several planned batches share one
    pass (up to ``FUSED_TOKENS_PER_PASS`` real tokens) with no padding outside attention,
    q|k|v and gate|up as one matmul each on oneDNN-packed bf16 weights (a copy of the decoder's linear
    weights, rebuilt when the model changes), the elementwise work between them compiled (dynamic shapes,
    compiled once per process: ~4-30 s the first time), and a compiled fp32 log-softmax over the head's
    chunks. The fused decoder is compared with the model's own on probes before use; a model that differs, or
    a machine where ``torch.compile`` fails, falls back (``fast_path`` says which ran and why).
    ``fast=False`` is the plain eager forward.
    ``fast=None`` (default) is rent-or-buy on CPU: eager until this scorer has spent ``FAST_PATH_AFTER_S``
    seconds scoring, then the fused path (a corpus job pays the compile once; a few documents never wait for it).
    Off on GPUs, where the eager bf16 forward is matmul-bound.
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
        fast: bool | None = None,
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
        if fast not in (None, True, False):
            raise ValueError(f"fast must be True, False or None (auto), got {fast!r}")
        self.fast = fast
        self.fast_path = "not decided (decided on the first batch)"
        self._lm: tuple[Any, Any] | None = None
        self._head: tuple[Any, ...] | None = None
        self._fused: tuple[Any, Any] | None = None
        self._eager_seconds = 0.0  # fast=None: scoring time spent eager so far (the compile trigger)
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
        waited = self._eager_seconds or 0.0  # None after unpickling (a datasets worker): starts again
        if self.fast is None and device.type == "cpu" and waited < FAST_PATH_AFTER_S:
            self.fast_path = (
                f"eager for now (fast=None: the fused path is built after {FAST_PATH_AFTER_S:g} s of "
                f"scoring, {waited:.1f} s so far; fast=True builds it at once)"
            )
            return None, None
        on = self.fast if self.fast is not None else device.type == "cpu"
        fused, logprob_fn, why = None, None, "off (fast=False)" if self.fast is False else "off (not CPU)"
        if on and split is None:
            why = "off (logits are not lm_head(decoder(...)))"
        elif on:
            logprob_fn = _compiled_target_logprob(split[1], device)
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
                    batch = [_pad_group(take, segs, lens_t, starts_t, pad) for take in groups_]
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
                            _head_logprobs(
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
                        lp = _token_logprobs(logits, targets.to(device))[:, :-1].double().cpu()
                        total.index_add_(0, docs_t[g.sel], (lp * g.mask).sum(1))
                    for g in batch:
                        count.index_add_(0, docs_t[g.sel], g.mask.sum(1).double())
            if started is not None:
                self._eager_seconds = (self._eager_seconds or 0.0) + time.perf_counter() - started
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (total / count).numpy()
        return {"perplexity": np.exp(-mean), "logprob": mean, "tokens": count.numpy().astype(np.int64)}


def plan_batches(lens: np.ndarray, budget: int, overhead: int = 512) -> list[int]:
    """Batch boundaries over ``lens`` (sorted longest first): each batch holds consecutive items, padded to
    its first (longest) one, within ``budget`` padded tokens (a longer single item goes alone).

    Chosen to minimise ``padded tokens + overhead x batches`` (exact, by dynamic programming): filling every
    batch to the budget pads short items up to a much longer one (on 64 article paragraphs that padded 42%
    extra tokens), while small batches run the matmuls less efficiently and pay per-batch costs (weights
    re-read, per-layer calls); ``overhead`` prices those in tokens. The scorer uses a quarter of the budget
    (on CPU, 512 of 2048: 16% padding, 5 batches on those paragraphs; 64-1024 were within noise of it).
    O(n x items per batch) numpy work: 26 ms for 3000 segments, negligible next to the model."""
    n = len(lens)
    lens = np.asarray(lens, dtype=np.int64)
    most = max(1, budget // max(int(lens[-1]), 1)) if n else 1
    best = np.zeros(n + 1)
    start = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):  # best[j]: cost of items [0, j); the last batch is [i, j), padded to lens[i]
        i = np.arange(max(0, j - most), j)
        padded = (j - i) * lens[i]
        cost = best[i] + padded + overhead
        cost[(padded > budget) & (i < j - 1)] = np.inf
        k = int(np.argmin(cost))
        best[j], start[j] = cost[k], i[k]
    bounds = [n]
    while bounds[-1] > 0:
        bounds.append(int(start[bounds[-1]]))
    return bounds[::-1]


def merge_groups(groups: Sequence[np.ndarray], lens: np.ndarray, max_tokens: int) -> list[list[np.ndarray]]:
    """Consecutive batches (index arrays into ``lens``) joined while their real tokens stay within
    ``max_tokens`` (one forward pass of the fused decoder; a larger batch goes alone)."""
    passes: list[list[np.ndarray]] = []
    used = 0
    for take in groups:
        n = int(lens[take].sum())
        if passes and used + n <= max_tokens:
            passes[-1].append(take)
            used += n
        else:
            passes.append([take])
            used = n
    return passes


class _Group(NamedTuple):
    sel: Any  # segment indices
    input_ids: Any  # B x L, right-padded
    lengths: Any  # B
    attn: Any  # B x L attention mask
    mask: Any  # B x (L - 1): which targets are scored


def _pad_group(take: np.ndarray, segs: list[list[int]], lens_t: Any, starts_t: Any, pad: int) -> _Group:
    """One batch of segments, right-padded, with its scored-target mask (past the window's context part and
    before the padding)."""
    import torch

    sel = torch.from_numpy(take)
    rows = [torch.tensor(segs[j]) for j in take.tolist()]
    input_ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad)
    lengths = lens_t[sel]
    pos = torch.arange(input_ids.shape[1])
    tgt = pos[1:]
    mask = (tgt[None, :] >= starts_t[sel][:, None]) & (tgt[None, :] < lengths[:, None])
    return _Group(sel, input_ids, lengths, (pos[None, :] < lengths[:, None]).long(), mask)


def _truncate_per_owner(ids: list[list[int]], owner: np.ndarray, max_tokens: int, n_prefix: int):
    """Keep each owner's first ``max_tokens`` text tokens across its pieces in order (the prefix is free)."""
    lens = np.fromiter((max(len(s) - n_prefix, 0) for s in ids), dtype=np.int64, count=len(ids))
    before = np.cumsum(lens) - lens
    before -= before[np.searchsorted(owner, owner, side="left")]  # tokens of earlier pieces, same owner
    allowed = np.clip(max_tokens - before, 0, None).tolist()
    return [s[: n_prefix + a] if a > 0 else [] for s, a in zip(ids, allowed, strict=True)]


def _target_logprob(logits: Any, targets: Any) -> Any:
    """log p(target) per row of ``logits`` (N x vocab, any float dtype), in fp32."""
    x = logits.float()
    return x.gather(-1, targets[:, None]).squeeze(-1) - x.logsumexp(-1)


_COMPILED: dict[str, Any] = {}


def _compiled(name: str, fn: Any) -> Any:
    """One ``torch.compile`` wrapper per function per process. Shapes are static except the dims a caller
    marks with :func:`_dynamic` (batch, length, rows), so one graph serves every batch while model
    constants (head_dim, vocab) stay static and the loops over them vectorise fully."""
    import torch

    if name not in _COMPILED:
        # emulate_precision_casts: a bf16 intermediate is rounded where the eager code rounds it, so the fused
        # path reproduces the model's own bf16 numerics (without it Inductor skips the round trips: on the
        # 64-paragraph benchmark that moved log-perplexities 0.015 rms from fp32 vs eager bf16's 0.012, with a
        # -0.008 bias); no measurable speed cost
        _COMPILED[name] = torch.compile(fn, dynamic=None, options={"emulate_precision_casts": True})
    return _COMPILED[name]


def _dynamic(*dims: tuple[Any, int]) -> None:
    """Mark ``(tensor, dim)`` pairs as varying between calls (sizes 0/1 still get their own graph)."""
    import torch._dynamo

    for tensor, dim in dims:
        torch._dynamo.maybe_mark_dynamic(tensor, dim)


def _compiled_target_logprob(head: Any, device: Any) -> Any:
    """The fp32 log-softmax over a head chunk as one fused kernel: eager ``logits.float().logsumexp()`` makes
    an fp32 copy and five passes over ``rows x vocab`` (it was ~30% of the CPU time); compiled it is one read.
    Compiled here on 1 and 3 rows of the head's vocab (dynamo specialises size 1), so the cost is paid now,
    not mid-job; None when ``torch.compile`` fails (e.g. no C++ compiler) and the eager function is used."""
    import torch

    fn = _compiled("target_logprob", _target_logprob)
    weight = getattr(head, "weight", None)
    if weight is None or weight.dim() != 2:
        return None
    try:
        with torch.inference_mode():  # the scorer's mode (grad mode is part of dynamo's guards)
            for n in (1, 3):
                x = torch.randn(n, weight.shape[0], dtype=weight.dtype, device=device)  # the real vocab
                t = torch.zeros(n, dtype=torch.long, device=device)
                _dynamic((x, 0), (t, 0))
                torch.testing.assert_close(fn(x, t), _target_logprob(x, t), rtol=1e-4, atol=1e-4)
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: stay eager
        warnings.warn(
            f"PerplexityScorer: torch.compile unavailable ({exc!r:.200}); eager log-softmax", stacklevel=3
        )
        return None
    return fn


def _head_logprobs(
    head: Any, hidden: Any, targets: Any, rows: int = 256, logprob_fn: Any = None, buffers: dict | None = None
) -> Any:
    """log p(target) for ``hidden`` rows (N x H) through the LM ``head``, ``rows`` at a time: the full-vocab
    logits exist only as a ``rows x vocab`` block, and logsumexp/gather run in fp32 on it. A bias-free linear
    head writes into one reused buffer, kept in ``buffers`` across calls when given (a fresh 50-100 MB block
    per batch is page-faulted in again on CPU: ~2x the matmul's own time)."""
    import torch

    fn = logprob_fn or _target_logprob
    n = hidden.shape[0]
    out = torch.empty(n, dtype=torch.float32, device=hidden.device)
    weight = getattr(head, "weight", None)
    plain = isinstance(head, torch.nn.Linear) and head.bias is None and weight.dtype == hidden.dtype
    buf = None
    if plain:
        key = (weight.shape[0], hidden.dtype, hidden.device)
        buf = (buffers or {}).get(key)
        if buf is None or buf.shape[0] < min(rows, n):
            buf = torch.empty(min(rows, n), weight.shape[0], dtype=hidden.dtype, device=hidden.device)
            if buffers is not None and n >= rows:
                buffers.clear()
                buffers[key] = buf
    for i in range(0, n, rows):
        h = hidden[i : i + rows]
        x = torch.mm(h, weight.t(), out=buf[: h.shape[0]]) if plain else head(h)
        t = targets[i : i + rows]
        if logprob_fn is not None:
            _dynamic((x, 0), (t, 0))
        out[i : i + rows] = fn(x, t)
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


# -- fused Llama decoder (CPU fast path) --------------------------------------------------------------------
def _rms_norm(x: Any, weight: Any, eps: float) -> Any:
    """LlamaRMSNorm's exact formula (fp32 statistics, cast back, then the weight)."""
    import torch

    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _add_rms_norm(h: Any, delta: Any, weight: Any, eps: float) -> tuple[Any, Any]:
    """The residual add and the next RMSNorm in one pass: ``(h + delta, norm(h + delta))``."""
    h = h + delta
    return h, _rms_norm(h, weight, eps)


def _rotate(x: Any, cos: Any, sin: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def _attention(
    qkv: Any, gather: Any, keep: Any, cos: Any, sin: Any, n_q: int, n_kv: int, head_dim: int, scaling: float
) -> Any:
    """Rotary and causal GQA attention for the packed q|k|v rows of several sequences (T x (n_q + 2 n_kv)
    head_dim, no padding): ``gather`` (B x L) lays them out as right-padded rows (pad slots repeat a real
    row), ``keep`` (T) picks the real rows of the B*L outputs back. Causal attention without a mask is exact
    for right-padded rows: a real query at position i only sees keys <= i, and every pad key sits after the
    last real token. Only attention sees padding; the matmuls and norms run on the T real rows."""
    import torch.nn.functional as F

    B, L = gather.shape
    q, k, v = qkv[gather].view(B, L, n_q + 2 * n_kv, head_dim).transpose(1, 2).split((n_q, n_kv, n_kv), dim=1)
    q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, enable_gqa=True)
    return a.transpose(1, 2).reshape(B * L, n_q * head_dim)[keep]


def _swiglu(gate_up: Any, inter: int) -> Any:
    import torch.nn.functional as F

    return F.silu(gate_up[..., :inter]) * gate_up[..., inter:]


class _Linear:
    """``F.linear`` for one or more of the model's projections that read the same input, concatenated on the
    output dim (q|k|v, gate|up: one wider matmul instead of two or three thin ones). In bf16 on a CPU with
    oneDNN the weight is stored pre-packed in oneDNN's blocked layout: an unpacked bf16 weight is re-laid out
    on every call (on the 2-core AMX test CPU the down projection ran 1.6x slower that way). Results are
    bit-identical to ``F.linear`` on the same weight. Packed or concatenated weights are a copy:
    :class:`FusedLlamaDecoder` rebuilds them when a source weight changes (see its ``_stamp``)."""

    def __init__(self, weights: Sequence[Any], biases: Sequence[Any], rows: int = 2048) -> None:
        import torch

        w = weights[0].detach() if len(weights) == 1 else torch.cat([x.detach() for x in weights])
        self.bias = None
        if any(b is not None for b in biases):
            self.bias = torch.cat(
                [b.detach() if b is not None else w.new_zeros(x.shape[0]) for x, b in zip(weights, biases)]
            )
        self.weight, self.packed = w, None
        if w.dtype == torch.bfloat16 and w.device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(w, rows)
                self.weight = None  # only the packed copy is kept
            except (RuntimeError, AttributeError):  # a torch without oneDNN bf16: plain F.linear
                self.packed = None

    def __call__(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


class _Layer(NamedTuple):
    ln1: Any
    qkv: _Linear
    o: _Linear
    ln2: Any
    gate_up: _Linear
    down: _Linear
    eps: float
    n_q: int
    n_kv: int
    scaling: float


class FusedLlamaDecoder:
    """A Llama-architecture decoder with its matmuls on fused, pre-packed weights and everything between them
    (residual adds, RMSNorms, rotary, SwiGLU) compiled into a few loops per layer.

    Why: on CPU in bf16 the eager forward of a small LM spends much of its time outside the matmuls (RMSNorm's
    upcast/pow/mean/rsqrt/casts, rotary's slices/neg/cat, SiLU*up, residual adds, each a pass over memory
    and a fresh allocation) and in thin matmuls that re-lay out their weight on every call. The compiled
    pieces are shared by every layer (dynamic batch and length: compiled once per process); the projections
    are :class:`_Linear`. The model is not patched; the packed weights are a copy (the size of the decoder's
    linear weights), rebuilt when any source weight is modified or replaced, so a model trained between calls
    is scored with its new weights. Input must be right-padded (see :func:`_attention`); the scorer pads so.
    """

    def __init__(self, decoder: Any, compiled: bool = True) -> None:
        self.decoder = decoder
        self.compiled = compiled
        pick = _compiled if compiled else (lambda name, fn: fn)
        self.rms_norm = pick("rms_norm", _rms_norm)
        self.add_rms_norm = pick("add_rms_norm", _add_rms_norm)
        self.attention = pick("attention", _attention)
        self.swiglu = pick("swiglu", _swiglu)
        self.stamp: tuple[Any, ...] = ()
        self.layers: list[_Layer] = []
        self._pack()

    def _stamp(self) -> tuple[Any, ...]:
        """Which weights the packed copy was made from: in-place updates (an optimizer step, ``copy_``) bump
        ``_version``; a replaced parameter or ``.data`` has a new identity or address. ~0.4 ms per pass for
        SmolLM2's 30 layers (a pass takes ~1 s)."""
        return tuple((id(p), p.data_ptr(), p._version) for p in self.decoder.layers.parameters())

    def _pack(self) -> None:
        layers = []
        for layer in self.decoder.layers:
            a, m = layer.self_attn, layer.mlp
            q, k, v = a.q_proj, a.k_proj, a.v_proj
            head_dim = int(a.head_dim)
            layers.append(
                _Layer(
                    ln1=layer.input_layernorm.weight,
                    qkv=_Linear([q.weight, k.weight, v.weight], [q.bias, k.bias, v.bias]),
                    o=_Linear([a.o_proj.weight], [a.o_proj.bias]),
                    ln2=layer.post_attention_layernorm.weight,
                    gate_up=_Linear(
                        [m.gate_proj.weight, m.up_proj.weight], [m.gate_proj.bias, m.up_proj.bias]
                    ),
                    down=_Linear([m.down_proj.weight], [m.down_proj.bias]),
                    eps=float(layer.input_layernorm.variance_epsilon),
                    n_q=q.weight.shape[0] // head_dim,
                    n_kv=k.weight.shape[0] // head_dim,
                    scaling=float(a.scaling),
                )
            )
        head_dims = {int(layer.self_attn.head_dim) for layer in self.decoder.layers}
        if len(head_dims) != 1:
            raise ValueError(f"layers differ in head_dim ({sorted(head_dims)})")
        self.head_dim = head_dims.pop()
        self.layers, self.stamp = layers, self._stamp()

    @property
    def packed(self) -> bool:
        """Whether the projections run on oneDNN-packed weights (bf16 on a CPU with oneDNN)."""
        return bool(self.layers) and self.layers[0].qkv.packed is not None

    @classmethod
    def build(cls, model: Any, decoder: Any) -> tuple[FusedLlamaDecoder | None, str]:
        """The fused decoder and ``"fused ..."`` when ``decoder`` is a plain Llama stack, else ``(None, why)``
        (the caller then uses the model's own forward). Two probes (1x7 random tokens, and 3x5 right-padded
        to 5, 2 and 4) check it: the eager fused functions must reproduce the model's decoder (same ops, so
        equal to rounding in any dtype: this is the structural check), and the compiled ones the eager ones
        (only fusion rounding differs; this guards against compiler bugs). The probes also compile both dynamo
        variants (batch 1 and batch > 1) now, not in the middle of a job."""
        import torch

        why = _not_llama(model, decoder)
        if why:
            return None, f"off ({why})"
        weight = decoder.embed_tokens.weight
        gen = torch.Generator().manual_seed(0)
        probes = [
            torch.randint(0, weight.shape[0], s, generator=gen).to(weight.device) for s in ((1, 7), (3, 5))
        ]
        lengths = [None, torch.tensor([5, 2, 4], device=weight.device)]  # right-padded rows too
        exact = 1e-4 if weight.dtype == torch.float32 else 1e-2

        def rel_error(a: Any, b: Any) -> float:
            return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))

        with torch.inference_mode():
            try:
                eager = cls(decoder, compiled=False)
                ref = [eager(ids, n) for ids, n in zip(probes, lengths)]
            except Exception as exc:  # noqa: BLE001 - an unexpected layer layout: use the model's forward
                return None, f"off (fused decoder failed: {exc!r:.120})"
            err = max(rel_error(r, _model_hidden(decoder, ids, n)) for r, ids, n in zip(ref, probes, lengths))
            if err > exact:
                return None, f"off (fused decoder differs from the model on a probe: rel. error {err:.2g})"
            packed = "packed weights" if eager.packed else "plain weights"
            try:
                compiled = cls(decoder, compiled=True)
                cerr = max(rel_error(compiled(ids, n), r) for r, ids, n in zip(ref, probes, lengths))
            except Exception as exc:  # noqa: BLE001 - no C++ compiler etc.: the eager fused path still helps
                warnings.warn(
                    f"PerplexityScorer: torch.compile failed ({exc!r:.200}); eager decoder", stacklevel=3
                )
                return (
                    eager,
                    f"fused Llama decoder (eager: torch.compile failed; {packed}; probe rel. error {err:.1g})",
                )
        if cerr > 10 * exact:
            return (
                eager,
                f"fused Llama decoder (eager: compiled output off by {cerr:.2g} on a probe; {packed})",
            )
        return (
            compiled,
            f"fused Llama decoder (compiled, {packed}; probe rel. error {err:.1g} eager, {cerr:.1g} compiled)",
        )

    def __call__(self, input_ids: Any, lengths: Any = None) -> Any:
        """Final-norm hidden states of the real tokens of right-padded ``input_ids`` (B x L; ``lengths`` real
        tokens per row, default all L), packed row after row: T x H, T = ``lengths.sum()``."""
        return self.forward_groups([(input_ids, lengths)])

    def forward_groups(self, groups: Sequence[tuple[Any, Any]]) -> Any:
        """:meth:`__call__` for several right-padded batches at once, packed one after the other: the matmuls
        see all their tokens together, attention each group with its own padding."""
        import torch

        if self._stamp() != self.stamp:  # the model was trained or reloaded since: repack
            self._pack()
        dec = self.decoder
        device = groups[0][0].device
        width = max(ids.shape[1] for ids, _ in groups)
        dyn = _dynamic if self.compiled else (lambda *dims: None)
        flat, parts, offset = [], [], 0
        for ids, lengths in groups:
            B, L = ids.shape
            pos = torch.arange(L, device=device)
            lengths = torch.full((B,), L, device=device) if lengths is None else lengths.to(device)
            real = pos[None] < lengths[:, None]
            starts = offset + lengths.cumsum(0) - lengths
            gather = torch.where(real, starts[:, None] + pos[None], starts[:, None])  # pad slot: row's first
            keep = (torch.arange(B, device=device)[:, None] * L + pos[None])[real]
            flat.append(ids[real])
            offset += flat[-1].shape[0]
            dyn((gather, 0), (gather, 1), (keep, 0))
            parts.append((gather, keep, L))
        h = dec.embed_tokens(flat[0] if len(flat) == 1 else torch.cat(flat))
        cos, sin = dec.rotary_emb(h, torch.arange(width, device=device)[None])  # the model's own rotary
        rotary = []
        for gather, keep, L in parts:
            c, s_ = cos[:, None, :L], sin[:, None, :L]
            dyn((c, 2), (s_, 2))
            rotary.append((gather, keep, c, s_))
        delta = None
        for w in self.layers:
            if delta is None:
                dyn((h, 0))
                x = self.rms_norm(h, w.ln1, w.eps)
            else:
                dyn((h, 0), (delta, 0))
                h, x = self.add_rms_norm(h, delta, w.ln1, w.eps)
            qkv = w.qkv(x)
            dyn((qkv, 0))
            a = [
                self.attention(qkv, g, k, c, s_, w.n_q, w.n_kv, self.head_dim, w.scaling)
                for g, k, c, s_ in rotary
            ]
            o = w.o(a[0] if len(a) == 1 else torch.cat(a))
            dyn((h, 0), (o, 0))
            h, x = self.add_rms_norm(h, o, w.ln2, w.eps)
            gu = w.gate_up(x)
            dyn((gu, 0))
            delta = w.down(self.swiglu(gu, gu.shape[-1] // 2))
        return dec.norm(h + delta)


def _model_hidden(decoder: Any, input_ids: Any, lengths: Any) -> Any:
    """The model's own final hidden states of the real tokens, packed as :class:`FusedLlamaDecoder` returns."""
    import torch

    if lengths is None:
        return decoder(input_ids=input_ids).last_hidden_state.flatten(0, 1)
    mask = torch.arange(input_ids.shape[1], device=input_ids.device)[None] < lengths[:, None]
    return decoder(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state[mask]


_LLAMA_LAYER = {"self_attn", "mlp", "input_layernorm", "post_attention_layernorm"}
_LLAMA_ATTN = {"q_proj", "k_proj", "v_proj", "o_proj"}
_LLAMA_MLP = {"gate_proj", "up_proj", "down_proj", "act_fn"}


def _not_llama(model: Any, decoder: Any) -> str:
    """Why ``decoder`` is not a plain Llama stack (empty string when it is): the module names, SiLU, full
    attention everywhere. Numerics are then checked on a probe, which catches what names cannot (e.g. Gemma's
    embedding scale and (1 + w) norms)."""
    cfg = model.config
    children = {name for name, _ in decoder.named_children()}
    if not {"embed_tokens", "layers", "norm", "rotary_emb"} <= children:
        return f"{type(decoder).__name__} is not a Llama-style decoder"
    if getattr(cfg, "hidden_act", None) != "silu":
        return f"activation {getattr(cfg, 'hidden_act', None)!r} is not silu"
    if getattr(cfg, "sliding_window", None) or any(
        t != "full_attention" for t in getattr(cfg, "layer_types", None) or []
    ):
        return "sliding-window attention"
    for layer in decoder.layers:
        kids = {name for name, _ in layer.named_children()}
        attn = {name for name, _ in getattr(layer, "self_attn", layer).named_children()}
        mlp = {name for name, _ in getattr(layer, "mlp", layer).named_children()}
        if kids != _LLAMA_LAYER or attn != _LLAMA_ATTN or mlp != _LLAMA_MLP:
            return f"{type(layer).__name__} has modules beyond Llama's ({sorted(kids | attn | mlp)})"
        norms = (layer.input_layernorm, layer.post_attention_layernorm)
        if not all(hasattr(n, "variance_epsilon") and hasattr(n, "weight") for n in norms):
            return (
                f"{type(layer.input_layernorm).__name__} is not an RMSNorm with weight and variance_epsilon"
            )
        if not all(hasattr(layer.self_attn, k) for k in ("head_dim", "scaling")):
            return f"{type(layer.self_attn).__name__} has no head_dim/scaling"
    return ""


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
            from hf_addons.data.mixture.mixture import arrow_column

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
