"""``generate``: prompts in, watermarked (or plain) continuations out, for the CLI, examples and Spaces.

Where the watermark sits in ``generate``'s processor chain changes the tokens when sampling: a processor passed
as ``logits_processor=`` runs *before* the sampling warpers (temperature, top-k, top-p), while transformers puts
its own ``watermarking_config`` processor *after* them. ``generation_kwargs`` picks the place: after the warpers
for ``interop="transformers"`` configs (token-identical to ``generate(watermarking_config=...)``), before them
for the native schemes (as the paper's reference code, lm-watermarking, does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessorList
from transformers.generation.configuration_utils import BaseWatermarkingConfig

from hf_addons.watermark.config import WatermarkConfig
from hf_addons.watermark.processor import WatermarkLogitsProcessor


class PlacedWatermark(BaseWatermarkingConfig):
    """A ``watermarking_config`` for ``model.generate`` that builds our ``WatermarkLogitsProcessor`` at the
    place transformers builds its own: after the sampling warpers. Its repr and dict never show the key."""

    def __init__(self, config: WatermarkConfig):
        if not isinstance(config, WatermarkConfig):
            raise TypeError(f"config must be a WatermarkConfig, got {type(config).__name__}")
        config.key  # noqa: B018 - a missing key fails here, not inside generate
        self._config = config

    def validate(self) -> None:
        """The wrapped config validated itself when it was built."""

    def construct_processor(self, vocab_size: int, device: Any = None) -> WatermarkLogitsProcessor:
        cfg = self._config
        if cfg.vocab_size is not None and cfg.vocab_size != vocab_size:
            raise ValueError(
                f"the watermark config's vocab_size {cfg.vocab_size} != the model's {vocab_size}"
            )
        return WatermarkLogitsProcessor(cfg)

    def to_dict(self) -> dict[str, Any]:
        return {"hf_addons_watermark": self._config.to_dict(include_key=False)}

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def __iter__(self):
        yield from self.to_dict().items()

    def __repr__(self) -> str:
        return f"PlacedWatermark({self._config!r})"

    def __deepcopy__(self, memo: dict) -> PlacedWatermark:
        return self  # nothing in it changes during generation; generate deep-copies its generation config


def generation_kwargs(config: WatermarkConfig, after_warpers: bool | None = None) -> dict[str, Any]:
    """Keyword arguments that watermark ``model.generate(**inputs, **generation_kwargs(config), ...)``.

    Args:
        config: the watermark settings and key.
        after_warpers: True puts the processor after temperature/top-k/top-p, where transformers puts its own
            (``watermarking_config=``); False before them (``logits_processor=``). Default: True for
            ``interop="transformers"`` configs (the same tokens as transformers' watermark), False otherwise.
            Greedy and beam search have no warpers: the place does not matter there.
    """
    after = config.interop == "transformers" if after_warpers is None else bool(after_warpers)
    if after:
        return {"watermarking_config": PlacedWatermark(config)}
    return {"logits_processor": LogitsProcessorList([WatermarkLogitsProcessor(config)])}


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
    only the new tokens (what a detector should score), one entry per prompt. The watermark sits where
    ``generation_kwargs(config)`` puts it (after the warpers for ``interop="transformers"``: the same tokens as
    ``model.generate(watermarking_config=config.to_transformers())`` under the same seed and settings).
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
    wm_kwargs = generation_kwargs(config) if config is not None else {}
    if "logits_processor" in generate_kwargs:  # the caller's processors first, then ours
        user = LogitsProcessorList(generate_kwargs.pop("logits_processor") or [])
        wm_kwargs["logits_processor"] = LogitsProcessorList([*user, *wm_kwargs.get("logits_processor", [])])
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
                **wm_kwargs,
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
