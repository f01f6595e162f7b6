"""``WatermarkLogitsProcessor``: adds ``delta`` to the green tokens' logits, vectorised over batch and vocab.

Plugs into ``model.generate(logits_processor=LogitsProcessorList([...]))`` with greedy, sampling or beam
search. No per-row loop and no host sync per step: seeds are hashed on the scores' device from the last
tokens of ``input_ids`` (left padding keeps them at the end, so prompts of different lengths just work).
"""

from __future__ import annotations

import warnings

import torch
from transformers import LogitsProcessor

from hf_addons.watermark.config import WatermarkConfig
from hf_addons.watermark.hashing import GreenHasher


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
        green = self.green_mask(input_ids, scores.shape[-1])
        # add() with a bool tensor promotes it in the kernel: one pass over (batch, vocab), keeps the dtype
        return scores.add(green, alpha=self.delta)
