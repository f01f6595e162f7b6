"""Shared fixtures: tiny random causal LMs with SmolLM2's real tokenizer, all offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
ARTIFACTS = REPO_ROOT / "test-artifacts"


def shared_path(*parts: str) -> Path:
    """A path under ``../shared``; skips the calling test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture(scope="session")
def shared():
    return shared_path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tokenizer():
    """SmolLM2's real tokenizer, extracted from the embedded GGUF once and cached."""
    from hf_addons.models import DefaultModelNotInstalled, load_tokenizer

    try:
        return load_tokenizer()
    except DefaultModelNotInstalled as exc:  # pragma: no cover - make test installs it
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def tiny_llama(tokenizer):
    from hf_addons.testing import tiny_causal_lm

    return tiny_causal_lm("llama", tokenizer=tokenizer)


@pytest.fixture(scope="session")
def sure_llama(tiny_llama, tokenizer):
    """A copy of ``tiny_llama`` pushed to always say "Sure" (one token), so any GCG suffix hits that target."""
    import copy

    model = copy.deepcopy(tiny_llama)
    sure = tokenizer("Sure", add_special_tokens=False)["input_ids"]
    assert len(sure) == 1

    def favour(module, inputs, output):
        output[..., sure[0]] += 50.0
        return output

    model.lm_head.register_forward_hook(favour)
    return model


@pytest.fixture(scope="session")
def tiny_gpt2(tokenizer):
    from hf_addons.testing import tiny_causal_lm

    return tiny_causal_lm("gpt2", tokenizer=tokenizer)


@pytest.fixture(params=["llama", "gpt2"])
def tiny_lm(request, tiny_llama, tiny_gpt2):
    """Each tiny model family in turn."""
    return {"llama": tiny_llama, "gpt2": tiny_gpt2}[request.param]


@pytest.fixture(scope="session")
def default_model():
    """The real embedded default model (slow tests only)."""
    from hf_addons.models import load_model

    return load_model(device="cpu")
