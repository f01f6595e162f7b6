"""``generate``: prompts in, watermarked (or plain) continuations out, for the CLI, examples and Spaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessorList

from hf_addons.watermark.config import WatermarkConfig
from hf_addons.watermark.processor import WatermarkLogitsProcessor


def generate(
    model: Any,
    tokenizer: Any,
    prompts: str | Sequence[str],
    config: WatermarkConfig | None = None,
    max_new_tokens: int = 200,
    do_sample: bool = True,
    chat: bool = False,
    batch_size: int = 16,
    seed: int | None = None,
    **generate_kwargs: Any,
) -> dict[str, list]:
    """Continuations of ``prompts`` (watermarked with ``config``; plain when it is None).

    ``chat=True`` wraps each prompt in the tokenizer's chat template. Returns ``{"texts", "token_ids"}`` with
    only the new tokens (what a detector should score), one entry per prompt.
    """
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    if not prompts:
        raise ValueError("no prompts given")
    if chat:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("chat=True but the tokenizer has no chat template")
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in prompts
        ]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    processors = LogitsProcessorList([WatermarkLogitsProcessor(config)] if config is not None else [])
    device = next(model.parameters()).device
    if seed is not None:
        torch.manual_seed(seed)
    texts: list[str] = []
    token_ids: list[list[int]] = []
    eos = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(
            prompts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=not chat,
        ).to(device)
        with torch.no_grad():
            out = model.generate(
                **enc,
                logits_processor=processors,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                pad_token_id=tokenizer.pad_token_id,
                **generate_kwargs,
            )
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        for row in new:  # strip trailing eos/pad per output
            while row and row[-1] in eos:
                row.pop()
            token_ids.append(row)
            texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return {"texts": texts, "token_ids": token_ids}
