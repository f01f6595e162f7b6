"""Tiny randomly initialised models for tests and examples, and full-size random ones for benchmarks.

Shared by ``tests/conftest.py``, the examples' ``--tiny`` mode and the GPU benchmarks, so a test exercises
exactly what a user would run, only smaller.
"""

from __future__ import annotations

from typing import Any

# SmolLM2-135M's architecture, for speed measurements with random weights of the same shape.
SMOLLM2_135M_SHAPE: dict[str, Any] = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
)


def _special_ids(tokenizer: Any) -> dict[str, int | None]:
    if tokenizer is None:
        return {}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad)


def tiny_causal_lm(
    family: str = "llama",
    tokenizer: Any = None,
    vocab_size: int | None = None,
    seed: int = 0,
    **overrides: Any,
):
    """A 2-layer, 64-wide random causal LM of the ``llama``, ``qwen2`` (Llama with q/k/v biases), ``qwen3``
    (Llama with per-head q/k RMSNorms) or ``gpt2`` family, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config

    vocab = vocab_size or (len(tokenizer) if tokenizer is not None else 1024)
    configs = {"llama": LlamaConfig, "qwen2": Qwen2Config, "qwen3": Qwen3Config}
    if family in configs:  # the same tiny Llama shape; Qwen2 adds q/k/v biases, Qwen3 per-head q/k norms
        config_class = configs[family]
        cfg = config_class(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=1024,
            tie_word_embeddings=True,
            **_special_ids(tokenizer),
        )
    elif family == "gpt2":
        cfg = GPT2Config(
            vocab_size=vocab, n_embd=64, n_layer=2, n_head=4, n_positions=1024, **_special_ids(tokenizer)
        )
    else:
        raise ValueError(
            f"unknown tiny model family {family!r}; expected 'llama', 'qwen2', 'qwen3' or 'gpt2'"
        )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    if tokenizer is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = _special_ids(tokenizer)["pad_token_id"]
    return model


def smollm2_shaped_lm(dtype: Any = None, device: str = "cpu", seed: int = 0):
    """A randomly initialised model with SmolLM2-135M's exact shape, for speed benchmarks on any machine."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(seed)
    cfg = LlamaConfig(**SMOLLM2_135M_SHAPE, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model = AutoModelForCausalLM.from_config(cfg)
    if dtype is not None:
        model = model.to(dtype)
    return model.to(device).eval()
