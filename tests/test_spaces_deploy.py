"""``hf-addons spaces build``: each Space as a self-contained folder that installs and runs on its own.

The fast tests check every built folder (files, requirements naming the shipped wheel, the app importing from
the folder). The slow ones do what Hugging Face Spaces does: a fresh venv (no system site-packages),
``pip install -r requirements.txt`` inside the folder (hf-addons from its wheel, the rest from the package
registries), ``python app.py``, then drive the running app with ``gradio_client``; a tiny local model stands in
for the Hub model through ``$HF_ADDONS_MODEL``. Several minutes of installs per Space: ``make test-all``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "spaces"))
import harness  # noqa: E402

SPACE_NAMES = sorted(p.parent.name for p in (REPO / "spaces").glob("*/app.py"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every Space built once with the CLI (one wheel shared), as ``{name: folder}``."""
    from hf_addons.cli import main
    from hf_addons.hub import package_wheel

    root = tmp_path_factory.mktemp("spaces")
    wheel = package_wheel()
    out = {}
    for name in SPACE_NAMES:
        args = ["spaces", "build", name, "--out", str(root / name), "--wheel", str(wheel)]
        assert main([*args, "--torch-index", "none"]) == 0
        out[name] = root / name
    return out


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_built_space_folder_is_self_contained(built, name):
    from hf_addons.hub import SpaceFolder, space_header

    folder = built[name]
    header = space_header(folder / "README.md")
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    (wheel,) = folder.glob("hf_addons-*.whl")
    reqs = (folder / "requirements.txt").read_text().splitlines()
    extras = ",".join(SpaceFolder(name).extras())
    assert f"./{wheel.name}[{extras}]" in reqs
    assert not [r for r in reqs if "git+" in r or "://" in r]  # --torch-index none: registries only
    for rel in SpaceFolder(name).extra_files():
        assert (folder / rel).is_file(), rel
    # the app imports from the folder alone (no spaces/ of the checkout needed)
    from hf_addons.hub import load_space_app

    module = load_space_app(folder.name, folder.parent)
    assert callable(module.build_demo)


def test_build_writes_the_cpu_torch_index_by_default(tmp_path):
    from hf_addons.cli import main
    from hf_addons.hub import SPACE_TORCH_INDEX, package_wheel

    assert main(["spaces", "build", "gcg", "--out", str(tmp_path), "--wheel", str(package_wheel())]) == 0
    assert f"--extra-index-url {SPACE_TORCH_INDEX}" in (tmp_path / "requirements.txt").read_text()


def test_build_unknown_space_is_a_message(tmp_path, capsys):
    from hf_addons.cli import main

    assert main(["spaces", "build", "nope", "--out", str(tmp_path)]) == 2
    assert "no Space 'nope'" in capsys.readouterr().err


# --- install + launch + drive, as Spaces does ----------------------------------------------------------------
def _drive(name: str, client) -> None:
    settings = [0.25, 2.0, "lefthash", 1, "15485863", 4.0]
    if name == "watermark":
        _, verdict = client.predict("Hi", *settings, api_name="/watermark_detect")
        assert verdict.startswith("**Not enough text")
    elif name == "watermark-metric":
        table = {"headers": ["predictions", "references"], "data": [["some words to score here", ""]]}
        out = client.predict(table, "15485863", "lefthash", 1, 0.25, 4.0, False, api_name="/metric_compute")
        assert len(out["z_score"]) == 1
    elif name == "data-cleaning":
        page = "<html><body><article><p>" + "Kelp forests line the cold coasts of the world. " * 20
        out = client.predict(
            page + "</p></article></body></html>", None, "placeholder", api_name="/data_clean"
        )
        assert "Kelp forests" in json.dumps(out)
    elif name == "gcg":
        out = client.predict("Say hi", "Sure", 1, 8, 8, api_name="/gcg_attack")
        assert "Done" in out[1]
    elif name == "sae":
        out = client.predict(0, api_name="/sae_explore")
        assert "Latent 0" in json.dumps(out)
    elif name == "combined":
        endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {
            "/watermark_detect",
            "/metric_compute",
            "/data_clean",
            "/gcg_attack",
            "/sae_explore",
        } <= endpoints
        _drive("watermark", client)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the install alone takes minutes (gradio, torch, the Space's extras)
@pytest.mark.parametrize("name", SPACE_NAMES)
def test_built_space_installs_in_a_fresh_venv_and_serves(built, name, tmp_path, tokenizer):
    from hf_addons.testing import tiny_causal_lm

    folder = built[name]
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    python = tmp_path / "venv" / "bin" / "python"
    start = time.perf_counter()
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    print(f"{name}: requirements installed in {time.perf_counter() - start:.0f} s")
    model_dir = tmp_path / "tiny"
    tiny_causal_lm("llama", tokenizer=tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    port = harness.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "HF_ADDONS_MODEL": str(model_dir),
        "HF_ADDONS_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    proc = subprocess.Popen(
        [str(python), "app.py"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline, lines = time.time() + 600, []
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            if re.search(rf"127\.0\.0\.1:{port}", line):
                break
        assert proc.poll() is None, "".join(lines)[-3000:]
        _drive(name, harness.client(url))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
