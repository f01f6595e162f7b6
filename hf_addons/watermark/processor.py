"""``WatermarkLogitsProcessor``: adds ``delta`` to the green tokens' logits, vectorised over batch and vocab.

Plugs into ``model.generate(logits_processor=LogitsProcessorList([...]))`` with greedy, sampling or beam
search. No per-row loop and no host sync per step: seeds are hashed on the scores' device from the last
tokens of ``input_ids`` (left padding keeps them at the end, so prompts of different lengths just work).

The bias is added to ``scores`` in place (as transformers' own processors may do; ``generate`` hands each
processor a fresh float tensor). On CPU the (batch, vocab) work runs over blocks of rows sized to stay in
the L2 cache (``CPU_BLOCK_ELEMENTS``): hashing, compare and add are memory-bound elementwise passes, and
three passes over a block in cache cost about one pass over DRAM. At batch 64 x 49,152 that is ~10x faster
than building a full bool mask and adding it (which also pays for PyTorch's slow mixed bool + float add).
"""

from __future__ import annotations

import warnings

import torch
from transformers import LogitsProcessor

from hf_addons.watermark.config import WatermarkConfig
from hf_addons.watermark.hashing import GreenHasher

CPU_BLOCK_ELEMENTS = 1 << 17  # 128k scores per block: 512 KiB fp32 (+ the int32 work buffer) fits in L2


class WatermarkLogitsProcessor(LogitsProcessor):
    """Green-list logit bias from a ``WatermarkConfig`` (``config`` or keyword fields such as ``gamma=``)."""

    def __init__(self, config: WatermarkConfig | None = None, **kwargs):
        if config is None:
            config = WatermarkConfig(**kwargs)
        elif kwargs:
            raise ValueError("pass either a WatermarkConfig or keyword fields, not both")
        self.config = config
        config.key  # noqa: B018 - fail now, not at the first generation step, when the key is missing
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
        rows = batch if scores.device.type != "cpu" else max(1, min(batch, CPU_BLOCK_ELEMENTS // vocab))
        green, work, spare = self._buffer(rows, vocab, scores)
        for s in range(0, batch, rows):  # blocks of rows (one block on GPU), never one row at a time
            e = min(s + rows, batch)
            n = e - s
            self.hasher.green_into(
                mult[s:e], None if cmin is None else cmin[s:e], green[:n], work[:n], spare[:n]
            )
            scores[s:e].add_(green[:n], alpha=self.delta)
        return scores

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
