"""``WatermarkLogitsProcessor``: adds ``delta`` to the green tokens' logits, vectorised over batch and vocab.

Plugs into ``model.generate(logits_processor=LogitsProcessorList([...]))`` with greedy, sampling or beam
search. No per-row loop and no host sync per step: seeds are hashed on the scores' device from the last
tokens of ``input_ids`` (left padding keeps them at the end, so prompts of different lengths just work).

The bias is added to ``scores`` in place (as transformers' own processors may do; ``generate`` hands each
processor a fresh float tensor). On CPU the (batch, vocab) work runs over blocks of rows sized to stay in
the L2 cache (``CPU_BLOCK_ELEMENTS``): hashing, compare and add are memory-bound elementwise passes, and
three passes over a block in cache cost about one pass over DRAM. At batch 64 x 49,152 that is ~10x faster
than building a full bool mask and adding it (which also pays for PyTorch's slow mixed bool + float add).

Large CPU batches go further: ``fused`` runs hash + compare + add as ONE elementwise loop that inductor
(``torch.compile``) turns into a vectorised C++ kernel, one read and one write of ``scores`` per step (~10x
less than the blocked path at batch 64 x 49,152). It is compiled once per process and dtype, shared by every
processor, with dynamic shapes (another batch size or beam count does not recompile); any compile failure (no C++
compiler, unsupported platform) falls back to the blocked path with one warning. Scores are identical.

The compile costs seconds (~4.5 s from inductor's disk cache, ~14 s cold) while the kernel saves ~4-9 ms per
batch-64 step, so ``fused="auto"`` only compiles once it has paid for itself: large calls run eager until they
have cost this process ``FUSED_COMPILE_AFTER_S`` seconds (rent-or-buy: never more than twice the better choice's
time, and a one-off short run never stalls). ``precompile_fused()`` compiles up front (services, benchmarks).
"""

from __future__ import annotations

import time
import warnings

import torch
from transformers import LogitsProcessor

from hf_addons.compile_policy import buy_now
from hf_addons.watermark.config import WatermarkConfig, warn_if_public_key
from hf_addons.watermark.hashing import GreenHasher

CPU_BLOCK_ELEMENTS = 1 << 17  # 128k scores per block: 512 KiB fp32 (+ the int32 work buffer) fits in L2
# fused="auto" takes the fused kernel from this many scores per step (batch >= 6 at a 49k vocab): below, its fixed
# ~0.25 ms per call (dynamo guards, wrappers) makes it no faster than the eager path (measured at batch 1, 2, 8)
FUSED_MIN_SCORES = 1 << 18
# fused="auto" compiles once eager calls of that size have cost this process this many seconds: about one warm
# compile, so a short run never pays a compile it cannot recover; a long one switches after ~400 (batch 64,
# selfhash) to ~4,000 (batch 8, lefthash) steps
FUSED_COMPILE_AFTER_S = 5.0
_FUSED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # opmath float32, as the eager add's alpha
_INT32_MIN = -(2**31)


def _fused_green_bias(scores, token_value, mult, threshold, rank, cmin, own_rank, delta) -> None:
    """``scores += delta * green`` in one elementwise pass, for every hashed scheme.

    green = [T * M < threshold and rank >= cmin] or [own_rank < cmin]: selfhash passes its window minimum and
    per-token tables (as ``GreenHasher.green_into``); lefthash/minhash pass ``cmin`` = int32 min, which makes the
    first condition plain ``T * M < threshold`` and the second false, so one compiled graph serves all schemes.
    ``delta`` is a float32 0-d tensor holding delta rounded to the scores' dtype, then the add runs in float32
    and rounds once: exactly what the eager ``add_(green, alpha=delta)`` does in fp32, bf16 and fp16.
    """
    green = ((token_value * mult < threshold) & (rank >= cmin)) | (own_rank < cmin)
    scores.add_(green.to(torch.float32) * delta)


class _FusedKernel:
    """The process-wide compiled ``_fused_green_bias``, the dtypes it ran for, its failure state, and the time
    large eager calls have cost so far (``fused="auto"``'s compile trigger)."""

    fn = None
    error: str | None = None
    ready: set = set()  # scores dtypes with a compiled graph
    eager_seconds = 0.0

    @classmethod
    def run(cls, *args) -> bool:
        """Run the fused kernel; False (after one warning per process) when it cannot be compiled."""
        if cls.error is not None:
            return False
        try:
            if cls.fn is None:
                cls.fn = torch.compile(_fused_green_bias, dynamic=True, fullgraph=True)
            # grad mode is part of dynamo's guards: no_grad gives one graph whatever the caller's mode
            with torch.no_grad():
                cls.fn(*args)
            cls.ready.add(args[0].dtype)
            return True
        except Exception as err:  # noqa: BLE001 - any compile failure must fall back, never fail generation
            first_line = (str(err).strip().splitlines() or [""])[0][:300]
            cls.error = f"{type(err).__name__}: {first_line}"
            warnings.warn(
                "WatermarkLogitsProcessor: the fused CPU kernel (torch.compile) failed, so this process uses "
                f"the eager blocked path (same scores, slower at large batch). Cause: {cls.error}. Pass "
                "fused=False to skip the attempt.",
                RuntimeWarning,
                stacklevel=3,
            )
            return False


def precompile_fused(*dtypes: torch.dtype) -> bool:
    """Compile the fused CPU kernel now for these scores dtypes (default fp32), so that ``fused="auto"`` uses
    it from the first large step: for services and benchmarks that would rather pay the compile up front.
    False (after the one fallback warning) when it cannot be compiled."""
    ok = True
    for dtype in dtypes or (torch.float32,):
        if dtype not in _FUSED_DTYPES:
            raise ValueError(f"the fused kernel handles {_FUSED_DTYPES}, not {dtype}")
        batch, vocab = 2, 64  # dynamic shapes: this graph serves every batch >= 2 and vocabulary size
        ints = [torch.zeros(vocab, dtype=torch.int32) for _ in range(3)]  # distinct: no aliasing guards
        ok &= _FusedKernel.run(
            torch.zeros(batch, vocab, dtype=dtype),
            ints[0],
            torch.ones(batch, 1, dtype=torch.int32),
            torch.tensor(0, dtype=torch.int32),
            ints[1],
            torch.zeros(batch, 1, dtype=torch.int32),
            ints[2],
            torch.tensor(0.0),
        )
    return ok


class WatermarkLogitsProcessor(LogitsProcessor):
    """Green-list logit bias from a ``WatermarkConfig`` (``config`` or keyword fields such as ``gamma=``).

    ``fused`` (a run-time choice, not part of the saved config): ``"auto"`` uses the compiled fused CPU kernel
    from ``FUSED_MIN_SCORES`` scores per step once it is compiled (by ``precompile_fused``, a ``fused=True``
    processor, or after ``FUSED_COMPILE_AFTER_S`` of large eager calls); ``True`` whenever the scores are on CPU
    in fp32/bf16/fp16, compiling on the first call; ``False`` never. GPUs always take the eager path. Scores are
    the same bits either way.
    """

    def __init__(self, config: WatermarkConfig | None = None, *, fused: bool | str = "auto", **kwargs):
        if fused not in (True, False, "auto"):
            raise ValueError(f"fused must be True, False or 'auto', got {fused!r}")
        self.fused = fused
        if config is None:
            config = WatermarkConfig(**kwargs)
        elif kwargs:
            raise ValueError("pass either a WatermarkConfig or keyword fields, not both")
        self.config = config
        config.key  # noqa: B018 - fail now, not at the first generation step, when the key is missing
        warn_if_public_key(config)
        self.delta = float(config.delta)
        self._hf = None
        if config.interop == "transformers":
            from transformers.generation.logits_process import WatermarkLogitsProcessor as HFProcessor

            # interop generation is transformers' own (slow, per-row) processor: identical by construction
            self._hf = HFProcessor(
                vocab_size=config.vocab_size,
                device="cpu",
                greenlist_ratio=config.gamma,
                bias=config.delta,
                hashing_key=config.key,
                seeding_scheme=config.seeding_scheme,
                context_width=config.context_width,
            )
            self.hasher = None
        else:
            self.hasher = GreenHasher(config)
        self._warned = False
        self._buffer_key: tuple | None = None
        self._buffers: tuple[torch.Tensor, ...] = ()
        self._unigram: dict[tuple, torch.Tensor] = {}
        self._fused_args: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def __repr__(self) -> str:
        return f"WatermarkLogitsProcessor({self.config!r}, fused={self.fused!r})"

    def green_mask(self, input_ids: torch.LongTensor, vocab_size: int) -> torch.Tensor:
        """(batch, vocab) bool: the green list for each row's next token."""
        need = self.hasher.context_needed
        ctx = input_ids[:, input_ids.shape[-1] - need :] if need else input_ids[:, :0]
        return self.hasher.green_vocab(ctx, vocab_size)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._hf is not None:
            return self._hf(input_ids.cpu(), scores.cpu()).to(scores.device)
        if input_ids.shape[-1] < self.hasher.context_needed:
            if not self._warned:
                warnings.warn(
                    f"input_ids has {input_ids.shape[-1]} tokens but the {self.config.seeding_scheme} scheme needs "
                    f"{self.hasher.context_needed} of context: these first steps are not watermarked",
                    stacklevel=2,
                )
                self._warned = True
            return scores
        batch, vocab = scores.shape
        if self.config.seeding_scheme == "unigram":  # one fixed list: a broadcast add, one pass
            return scores.add_(self._unigram_bias(scores))
        need = self.hasher.context_needed
        mult, cmin = self.hasher.row_seeds(input_ids[:, input_ids.shape[-1] - need :])
        fused = self._wants_fused(scores)
        if fused and _FusedKernel.run(scores, *self._fused_inputs(scores, mult, cmin)):
            return scores
        started = time.perf_counter() if fused is None else None
        rows = batch if scores.device.type != "cpu" else max(1, min(batch, CPU_BLOCK_ELEMENTS // vocab))
        green, work, spare = self._buffer(rows, vocab, scores)
        for s in range(0, batch, rows):  # blocks of rows (one block on GPU), never one row at a time
            e = min(s + rows, batch)
            n = e - s
            self.hasher.green_into(
                mult[s:e], None if cmin is None else cmin[s:e], green[:n], work[:n], spare[:n]
            )
            scores[s:e].add_(green[:n], alpha=self.delta)
        if started is not None:  # an "auto" call the fused kernel would take: what staying eager costs
            _FusedKernel.eager_seconds += time.perf_counter() - started
        return scores

    def _wants_fused(self, scores: torch.Tensor) -> bool | None:
        """True: run fused. False: eager. None: eager for now, but "auto" would fuse this call once the kernel
        is compiled (its eager time counts towards ``FUSED_COMPILE_AFTER_S``)."""
        if self.fused is False or scores.device.type != "cpu" or scores.dtype not in _FUSED_DTYPES:
            return False
        if self.config.seeding_scheme == "selfhash" and self.hasher.context_needed == 0:
            return False  # a fixed per-token list: the eager path is one copy + add
        if not scores.is_contiguous() or torch.compiler.is_compiling():
            return False
        if self.fused is True:
            return True
        if scores.numel() < FUSED_MIN_SCORES or _FusedKernel.error is not None:
            return False
        if scores.dtype in _FusedKernel.ready or buy_now(_FusedKernel.eager_seconds, FUSED_COMPILE_AFTER_S):
            return True
        return None

    def _fused_inputs(
        self, scores: torch.Tensor, mult: torch.Tensor, cmin: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...]:
        """Arguments after ``scores`` of ``_fused_green_bias``; tables and constants are cached per shape."""
        batch, vocab = scores.shape
        key = (vocab, scores.dtype, batch if cmin is None else None)
        cached = self._fused_args.get(key)
        if cached is None:
            if len(self._fused_args) >= 16:  # lefthash keys include the batch size: keep the cache bounded
                self._fused_args.clear()
            tab = self.hasher.tables(scores.device, vocab)
            threshold = torch.tensor(self.hasher.threshold, dtype=torch.int32)
            delta = torch.tensor(self.delta, dtype=scores.dtype).float()  # the eager add's alpha rounding
            if cmin is None:  # lefthash/minhash: cmin = int32 min turns the selfhash terms off
                floor = torch.full((batch, 1), _INT32_MIN, dtype=torch.int32)
                # any int32 tables do for rank/own_rank; distinct ones, since dynamo compiles a separate
                # graph when inputs alias each other (this way all schemes share one graph per dtype)
                rank, own_rank = (torch.zeros(vocab, dtype=torch.int32) for _ in range(2))
                cached = (tab["T"], threshold, rank, floor, own_rank, delta)
            else:
                cached = (tab["T"], threshold, tab["H32"], None, tab["H32_own"], delta)
            self._fused_args[key] = cached
        value, threshold, rank, floor, own_rank, delta = cached
        if mult._base is not None:  # a view (lefthash's unsqueeze): dynamo would guard on its base
            mult = mult.clone()
        return value, mult, threshold, rank, floor if cmin is None else cmin, own_rank, delta

    def _buffer(self, rows: int, vocab: int, scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Reused (rows, vocab) float, int32 and float work buffers: no allocation per step."""
        key = (rows, vocab, scores.dtype, scores.device)
        if self._buffer_key != key:
            self._buffer_key = key
            self._buffers = (
                torch.empty(rows, vocab, dtype=scores.dtype, device=scores.device),
                torch.empty(rows, vocab, dtype=torch.int32, device=scores.device),
                torch.empty(rows, vocab, dtype=scores.dtype, device=scores.device),
            )
        return self._buffers

    def _unigram_bias(self, scores: torch.Tensor) -> torch.Tensor:
        """delta on the fixed green list, as a (vocab,) tensor in the scores' dtype (cached)."""
        key = (scores.shape[-1], scores.dtype, scores.device)
        if key not in self._unigram:
            green = self.hasher.tables(scores.device, scores.shape[-1])["unigram"]
            self._unigram[key] = green.to(scores.dtype) * self.delta
        return self._unigram[key]
