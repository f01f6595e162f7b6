"""Token-level interop: our transformers-compatible mode generates exactly the tokens of
``model.generate(watermarking_config=...)`` under the same seed and settings (tiny random Llama)."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessorList, WatermarkingConfig

from hf_addons.watermark import (
    WatermarkConfig,
    WatermarkDetector,
    WatermarkLogitsProcessor,
    generate,
    generation_kwargs,
)

VOCAB = 512


@pytest.fixture(scope="module")
def small_lm():
    """A tiny random llama with a 512-token vocabulary (transformers' selfhash processor is slow at 49k)."""
    from hf_addons.testing import tiny_causal_lm

    return tiny_causal_lm("llama", vocab_size=VOCAB, seed=3)


def _left_padded(lengths=(3, 9, 5, 1)):
    g = torch.Generator().manual_seed(0)
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, width - n :] = torch.randint(3, VOCAB, (n,), generator=g)
        mask[i, width - n :] = 1
    return {"input_ids": ids, "attention_mask": mask}


SETTINGS = {
    "sample-defaults": dict(do_sample=True),  # generate's defaults: top-k 50, top-p 1.0, temperature 1.0
    "sample-top-p-temp": dict(do_sample=True, top_p=0.9, temperature=0.7),
    "greedy": dict(do_sample=False),
}


@pytest.mark.parametrize("scheme,width", [("lefthash", 1), ("selfhash", 2)])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_compatible_mode_is_token_identical_to_transformers(small_lm, scheme, width, setting):
    wcfg = WatermarkingConfig(bias=2.5, seeding_scheme=scheme, context_width=width, hashing_key=424242)
    cfg = WatermarkConfig.from_transformers(wcfg, vocab_size=VOCAB)
    enc = _left_padded()
    kw = dict(max_new_tokens=12, pad_token_id=0, **SETTINGS[setting])
    torch.manual_seed(0)
    theirs = small_lm.generate(**enc, watermarking_config=wcfg, **kw)
    torch.manual_seed(0)
    ours = small_lm.generate(**enc, **generation_kwargs(cfg), **kw)
    assert torch.equal(theirs, ours)
    if setting != "greedy":
        # passed as logits_processor= the processor runs before the warpers: other tokens. (transformers'
        # selfhash only greens its top-40 candidates, so top-k 50 alone cannot tell the places apart.)
        torch.manual_seed(0)
        before = small_lm.generate(
            **enc, logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(cfg)]), **kw
        )
        if scheme == "lefthash" or setting == "sample-top-p-temp":
            assert not torch.equal(before, theirs)


def test_generate_helper_matches_transformers_on_text(tiny_llama, tokenizer):
    """The one-call helper (text prompts, left padding, sampling) takes the same path."""
    wcfg = WatermarkingConfig(bias=2.5, seeding_scheme="lefthash", hashing_key=31337)
    cfg = WatermarkConfig.from_transformers(wcfg, vocab_size=tiny_llama.config.vocab_size)
    prompts = ["Hello there", "A much longer prompt about the weather in the mountains today", "Hi"]
    out = generate(tiny_llama, tokenizer, prompts, cfg, max_new_tokens=10, seed=0)
    enc = tokenizer(prompts, return_tensors="pt", padding=True)  # the helper left the tokenizer left-padding
    torch.manual_seed(0)
    theirs = tiny_llama.generate(
        **enc,
        watermarking_config=wcfg,
        max_new_tokens=10,
        do_sample=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    eos = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    for row, got in zip(theirs[:, enc["input_ids"].shape[1] :].tolist(), out["token_ids"]):
        while row and row[-1] in eos:
            row.pop()
        assert got == row


def test_native_schemes_can_be_placed_after_the_warpers(small_lm):
    """Placement is a choice for native schemes too; both places give a detectable watermark."""
    cfg = WatermarkConfig(seeding_scheme="selfhash", context_width=4, delta=6.0, hashing_key="placement")
    enc = _left_padded()
    det = WatermarkDetector(cfg)
    for after in (False, True):
        gk = generation_kwargs(cfg, after_warpers=after)
        assert ("watermarking_config" in gk) == after
        torch.manual_seed(1)
        out = small_lm.generate(**enc, **gk, max_new_tokens=30, do_sample=True, pad_token_id=0)
        z = det.score_ids(out[:, enc["input_ids"].shape[1] :])["z"]
        assert (z > 4).all(), (after, z)
    assert "placement" not in repr(generation_kwargs(cfg, after_warpers=True))
