"""The Spaces: each app started in-process on a free port, called with ``gradio_client`` and driven in a real
headless Chromium (Debian's, via Playwright); screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import gradio
import pytest

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "spaces"
_spec = importlib.util.spec_from_file_location("hf_addons_spaces_harness", SPACES / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

# gradio builds its component stubs with ast.parse when imported; CPython 3.11's AST constructor keeps its
# recursion count in per-interpreter state, so a parse in another thread at that moment can fail it with
# "AST constructor recursion depth mismatch" (once in CI, at 4347cb0, after the Ray executor test; its
# leftover threads are the likely other parser). Imported here, at collection, before any test starts a thread.
# every Space folder, and the ones that run a model (get the tiny one in tests)
SPACE_NAMES = sorted(p.parent.name for p in SPACES.glob("*/app.py"))
WM_SETTINGS = [0.25, 2.0, "lefthash", 1, "15485863", 4.0]  # gamma, delta, scheme, width, key, z threshold


@pytest.fixture(scope="module")
def page():
    try:
        cm = harness.browser()
        page = cm.__enter__()
    except harness.BrowserUnavailable as exc:
        pytest.skip(str(exc))
    yield page
    cm.__exit__(None, None, None)


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("gradio-app .gradio-container", state="attached")


def _shot(page, artifacts_dir: Path, name: str) -> None:
    page.wait_for_timeout(800)  # let the fade-in of updated outputs finish
    path = artifacts_dir / f"space-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real rendered page, not a blank one


def _edit_cell(page, selector: str, value: str, tries: int = 3) -> None:
    """Type into a gr.Dataframe cell and wait until the table holds it.

    A double click on a loaded machine can reach the page as one click (the cell is selected, no editor
    opens) and typed keys then go nowhere: the CI run of 7cee7a3 lost an edit that way. So the editor's
    textarea is awaited and filled, and the whole edit is retried if the cell does not show the value.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    cell = page.locator(selector)
    for attempt in range(tries):
        try:
            cell.dblclick()
            editor = cell.locator("textarea[aria-label='Edit cell']")
            editor.wait_for(state="visible", timeout=5_000)
            editor.fill(value)
            editor.press("Enter")
            expect(cell).to_contain_text(value.split()[0], timeout=10_000)
            return
        except (AssertionError, PlaywrightTimeout):
            if attempt == tries - 1:
                raise


# --- conventions every Space folder follows ------------------------------------------------------------------
@pytest.mark.parametrize("name", SPACE_NAMES)
def test_space_folder_would_run_on_spaces(name):
    from hf_addons.hub import push_plan, space_folder, space_header

    folder = SPACES / name
    header = space_header(folder / "README.md")
    for key in ("title", "sdk", "sdk_version", "app_file", "license"):
        assert header.get(key), f"{name}: README header lacks {key}"
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert header["sdk_version"] == gradio.__version__
    assert len(header.get("short_description", "")) <= 60
    app_src = (folder / "app.py").read_text()
    assert "def build_demo(" in app_src and 'if __name__ == "__main__":' in app_src
    plan = push_plan(space_folder(name))
    (wheel,) = [p for p in plan if p.endswith(".whl")]
    assert {"README.md", "app.py", "requirements.txt"} <= set(plan)
    assert not any("__pycache__" in p for p in plan)
    # installable without any unpublished repository: hf-addons comes from the wheel shipped next to it
    reqs = plan["requirements.txt"].decode()
    assert "git+" not in reqs and "torch==" in reqs
    assert re.search(rf"^\./{re.escape(wheel)}\[spaces[],]", reqs, re.M), reqs


# --- watermark -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def watermark_url(tiny_llama, tokenizer):
    pytest.importorskip("hf_addons.watermark")
    demo = harness.load_space("watermark").build_demo(
        model=tiny_llama, tokenizer=tokenizer, max_new_tokens=48
    )
    with harness.serve(demo) as url:
        yield url


def test_watermark_space_generate_and_detect(watermark_url):
    c = harness.client(watermark_url)
    wm, wm_hl, wm_verdict, plain, plain_hl, plain_verdict = c.predict(
        "Tell me about the sea.", 48, *WM_SETTINGS, api_name="/watermark_generate"
    )
    assert wm_verdict.startswith("**Watermarked**"), wm_verdict
    assert plain_verdict.startswith("**No watermark detected**"), plain_verdict
    assert float(re.search(r"z = (-?[\d.]+)", wm_verdict).group(1)) > 4.0
    # highlights cover the text exactly, tokens labelled green/red
    assert "".join(span["token"] for span in wm_hl) == wm
    assert {span["class_or_confidence"] for span in wm_hl} >= {"green", "red"}

    hl, verdict = c.predict(wm, *WM_SETTINGS, api_name="/watermark_detect")
    assert verdict == wm_verdict and "".join(s["token"] for s in hl) == wm
    # another key sees no watermark in the same text
    other = [*WM_SETTINGS[:4], "another key", WM_SETTINGS[5]]
    _, verdict = c.predict(wm, *other, api_name="/watermark_detect")
    assert verdict.startswith("**No watermark detected**")


def test_watermark_space_errors_are_messages(watermark_url):
    from gradio_client.exceptions import AppError

    c = harness.client(watermark_url)
    with pytest.raises(AppError, match="paste some text to score"):
        c.predict("  ", *WM_SETTINGS, api_name="/watermark_detect")
    with pytest.raises(AppError, match="secret key is empty"):
        c.predict("some text", *WM_SETTINGS[:4], "", WM_SETTINGS[5], api_name="/watermark_detect")
    _, verdict = c.predict("Hi", *WM_SETTINGS, api_name="/watermark_detect")
    assert verdict.startswith("**Not enough text to decide**")


@pytest.mark.browser
def test_watermark_space_in_browser(watermark_url, page, artifacts_dir):
    _open(page, watermark_url)
    page.click("#wm-generate")
    page.wait_for_function(
        "document.querySelector('#wm-verdict')?.innerText.includes('Watermarked')", timeout=120_000
    )
    page.wait_for_function("document.querySelector('#plain-verdict')?.innerText.includes('No watermark')")
    _shot(page, artifacts_dir, "watermark-generate")
    wm_text = page.input_value("#wm-text textarea")
    page.get_by_role("tab", name="Detect").click()
    page.fill("#detect-text textarea", wm_text)
    page.click("#wm-detect")
    page.wait_for_function("document.querySelector('#detect-verdict')?.innerText.includes('Watermarked')")
    assert page.locator("#detect-highlight").get_by_text("green").count() >= 1  # the legend
    _shot(page, artifacts_dir, "watermark-detect")


# --- SAE explorer --------------------------------------------------------------------------------------------
SAE_TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank in the early morning light.",
    "Tide pools are rocky pools on the sea shore which are filled with seawater at low tide.",
    "def add(a, b):\n    return a + b  # a tiny function that adds two numbers together",
    "Kelp forests are underwater areas with a high density of kelp along cold coastlines.",
] * 3


@pytest.fixture(scope="module")
def tiny_sae():
    interp = pytest.importorskip("hf_addons.interp")
    import torch

    torch.manual_seed(0)
    return interp.SparseAutoencoder(
        interp.SAEConfig(d_in=64, d_sae=128, k=8, layer=1, model_name="tiny")
    ).eval()


@pytest.fixture(scope="module")
def sae_url(tiny_llama, tokenizer, tiny_sae):
    demo = harness.load_space("sae").build_demo(
        model=tiny_llama, tokenizer=tokenizer, sae=tiny_sae, texts=SAE_TEXTS
    )
    with harness.serve(demo) as url:
        yield url


def test_sae_space_explore_matches_the_sae(sae_url, tiny_llama, tokenizer, tiny_sae):
    import torch

    explorer = harness.load_space("sae").Explorer(tiny_llama, tokenizer, tiny_sae, SAE_TEXTS)
    latent = explorer.top_latents(1)[0]
    c = harness.client(sae_url)
    contexts, up, down = c.predict(latent, api_name="/sae_explore")
    assert contexts.startswith(f"**Latent {latent}** fires on {int(explorer.freq[latent])} of")
    assert contexts.count("**[") == 8  # eight top contexts, the firing token in brackets
    # the strongest context is the token where the SAE's encoding of that latent is largest
    top = explorer.top_contexts(latent, 1)[0]
    assert f"{top['activation']:.2f}" in contexts
    # logit effect: the decoder direction through the unembedding, largest first
    effect = tiny_llama.get_output_embeddings().weight @ tiny_sae.W_dec[latent]
    best = [tokenizer.decode([i]) for i in effect.topk(10).indices.tolist()]
    assert [r[0] for r in up["data"]] == best
    assert [r[1] for r in up["data"]] == sorted([r[1] for r in up["data"]], reverse=True)
    assert down["data"][0][0] == tokenizer.decode([int(effect.argmin())])
    assert torch.isfinite(effect).all()


def test_sae_space_steering_changes_generation(sae_url):
    from gradio_client.exceptions import AppError

    c = harness.client(sae_url)
    plain, steered_zero = c.predict("Hello there", 3, 0.0, api_name="/sae_steer")
    assert plain == steered_zero  # strength 0 is the unsteered model
    plain2, steered = c.predict("Hello there", 3, 2.0, api_name="/sae_steer")
    assert plain2 == plain and steered != plain
    with pytest.raises(AppError, match="out of range: this SAE has 128 latents"):
        c.predict(500, api_name="/sae_explore")
    with pytest.raises(AppError, match="type a prompt"):
        c.predict(" ", 3, 1.0, api_name="/sae_steer")


def test_sae_demo_sae_is_trained_once_and_cached(tiny_llama, tokenizer, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("HF_ADDONS_CACHE", str(tmp_path))
    app = harness.load_space("sae")
    first = app.demo_sae(tiny_llama, tokenizer, SAE_TEXTS, max_tokens=400)
    cached = list((tmp_path / "sae-demo").glob("*/model.safetensors"))
    assert len(cached) == 1 and first.config.tokens_trained > 0 and first.config.layer == 0
    again = app.demo_sae(tiny_llama, tokenizer, SAE_TEXTS, max_tokens=400)
    assert torch.equal(first.W_dec, again.W_dec)


@pytest.mark.browser
def test_sae_space_in_browser(sae_url, page, artifacts_dir):
    _open(page, sae_url)
    page.wait_for_function("document.querySelector('#sae-info')?.innerText.includes('most active latents')")
    page.click("#sae-explore")
    page.wait_for_function("document.querySelector('#sae-contexts')?.innerText.includes('fires on')")
    assert page.locator("#sae-contexts table tr").count() >= 2
    page.fill("#sae-prompt textarea", "Hello there")
    page.click("#sae-steer")
    page.wait_for_function("document.querySelector('#sae-steered textarea')?.value.length > 0")
    _shot(page, artifacts_dir, "sae")


# --- the combined app and `hf-addons demo` -------------------------------------------------------------------
def _available_tabs() -> list[str]:
    """Tabs whose capability package imports (all of them once every capability has landed)."""
    combined = harness.load_space("combined")
    needs = {
        "watermark": "hf_addons.watermark",
        "watermark-metric": "evaluate",
        "data-cleaning": "hf_addons.data.executors.pipeline",
        "gcg": "hf_addons.redteam",
        "sae": "hf_addons.interp",
    }
    out = []
    for tab in combined.TABS:
        try:
            module = importlib.import_module(needs[tab])
        except ImportError:
            continue
        if tab != "gcg" or hasattr(module, "GCG"):
            out.append(tab)
    return out


def test_combined_app_has_every_tab_and_serves_them(tiny_llama, tokenizer, tiny_sae):
    combined = harness.load_space("combined")
    assert list(combined.TABS) == ["watermark", "watermark-metric", "data-cleaning", "gcg", "sae"]
    # every Space (but the combined app itself) is a tab
    assert set(combined.TABS) == {p.parent.name for p in SPACES.glob("*/app.py")} - {"combined"}
    with pytest.raises(ValueError, match="unknown tab"):
        combined.build_demo(model=tiny_llama, tokenizer=tokenizer, tabs=["nope"])
    tabs = _available_tabs()
    demo = combined.build_demo(
        model=tiny_llama, tokenizer=tokenizer, tabs=tabs, sae={"sae": tiny_sae, "texts": SAE_TEXTS}
    )
    with harness.serve(demo) as url:
        c = harness.client(url)
        endpoints = set(c.view_api(print_info=False, return_format="dict")["named_endpoints"])
        if "watermark" in tabs:
            assert {"/watermark_generate", "/watermark_detect"} <= endpoints
            _, verdict = c.predict("Hi", *WM_SETTINGS, api_name="/watermark_detect")
            assert verdict.startswith("**Not enough text")
        expected = {
            "watermark-metric": "/metric_compute",
            "data-cleaning": "/data_clean",
            "gcg": "/gcg_attack",
            "sae": "/sae_explore",
        }
        assert {expected[t] for t in tabs if t in expected} <= endpoints
        assert not [e for e in endpoints if e.endswith("_1")]  # each tab rendered once, no duplicate events
        # the API shows each input's name, not param_2, param_3...
        api = c.view_api(print_info=False, return_format="dict")["named_endpoints"]
        unnamed = {e: p["parameter_name"] for e, v in api.items() for p in v["parameters"]}
        unnamed = {e: n for e, n in unnamed.items() if n.startswith("param_")}
        assert not unnamed, unnamed


@pytest.mark.browser
def test_combined_app_tabs_work_in_browser(tiny_llama, tokenizer, tiny_sae, page, artifacts_dir):
    combined = harness.load_space("combined")
    demo = combined.build_demo(
        model=tiny_llama, tokenizer=tokenizer, sae={"sae": tiny_sae, "texts": SAE_TEXTS}
    )
    with harness.serve(demo) as url:
        _open(page, url)
        page.wait_for_selector("#wm-generate")
        assert page.locator("#wm-generate").count() == 1
        page.click("#wm-generate")
        page.wait_for_function("document.querySelector('#wm-verdict')?.innerText.includes('Watermarked')")
        page.get_by_role("tab", name="SAE explorer").click()
        page.wait_for_function(
            "document.querySelector('#sae-info')?.innerText.includes('most active latents')"
        )
        page.click("#sae-explore")
        page.wait_for_function("document.querySelector('#sae-contexts')?.innerText.includes('fires on')")
        _shot(page, artifacts_dir, "combined-tiny")


def test_demo_cli_starts_the_combined_app(tiny_llama, tokenizer, tmp_path):
    """`hf-addons demo --model <dir>` loads that model, starts the app and prints its URL."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    model_dir = tmp_path / "tiny"
    tiny_llama.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    port = harness.free_port()
    cmd = [
        sys.executable,
        "-m",
        "hf_addons",
        "demo",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--tabs",
        ",".join(_available_tabs()),
    ]
    # a fresh cache: the SAE tab trains and caches its demo SAE for this model, as on a fresh machine
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_ADDONS_CACHE": str(tmp_path / "cache"),
    }
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines, url, deadline = [], None, time.time() + 300
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            m = re.search(r"hf-addons demo running at (http://\S+)", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        assert f":{port}" in url
        html = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "hf-addons demo" in html
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_demo_cli_bad_model_is_a_message(tmp_path):
    from hf_addons.cli import main

    assert main(["demo", "--model", str(tmp_path / "missing"), "--tabs", "watermark"]) == 2


# --- data cleaning -------------------------------------------------------------------------------------------
GOOD_PAGE = (
    "<html><head><title>Kelp forests</title></head><body><nav>Home | About</nav><article><h1>Kelp forests</h1>"
    "<p>Kelp forests are underwater areas with a high density of kelp, which covers a large part of the "
    "world's coastlines. They are recognized as one of the most productive and dynamic ecosystems on Earth, "
    "and the key AKIAQYLPMN5HHHFPZAM2 was pasted here by accident.</p>"
    "<p>Smaller areas of anchored kelp are called kelp beds, and they are home to fish, otters and urchins "
    "that depend on the shelter and the food that the kelp provides through the whole year.</p>"
    "</article><footer>Subscribe to our newsletter</footer></body></html>"
)
BAD_PAGE = "<html><body><p>Buy now!!! $$$ ### @@@</p></body></html>"


@pytest.fixture(scope="module")
def cleaning_url():
    pytest.importorskip("hf_addons.data.executors.pipeline")
    with harness.serve(harness.load_space("data-cleaning").build_demo()) as url:
        yield url


def test_data_cleaning_space_pasted_html(cleaning_url):
    c = harness.client(cleaning_url)
    doc, _, markdown, status, redactions, steps, report, summary = c.predict(
        harness.load_space("data-cleaning").EXAMPLE_HTML, None, "placeholder", api_name="/data_clean"
    )
    assert status == "kept" and summary.startswith("**1 of 1 document(s) kept**")
    assert markdown.startswith("Tide pools are rocky pools") and "Subscribe" not in markdown
    assert "AKIAQYLPMN5HHHFPZAM2" not in markdown and "<AWS_ACCESS_KEY_ID>" in markdown
    assert "warden@example.org" not in markdown and "<EMAIL_ADDRESS>" in markdown
    kinds = [row[1:3] for row in redactions["data"]]
    assert ["secret", "aws_access_key_id"] in kinds and ["PII", "EMAIL_ADDRESS"] in kinds
    assert [row[0] for row in steps["data"]][:2] == ["extract", "gopher_quality"]
    assert report["input_rows"] == 1 and report["output_rows"] == 1


def test_data_cleaning_space_warc_upload_reports_removals(cleaning_url, tmp_path):
    from gradio_client import handle_file

    from hf_addons.data.readers.warc import write_warc

    warc = write_warc(
        tmp_path / "crawl.warc.gz",
        [
            {"url": "https://a.example/kelp", "html": GOOD_PAGE},
            {"url": "https://b.example/spam", "html": BAD_PAGE},
        ],
    )
    c = harness.client(cleaning_url)
    doc, _, markdown, status, redactions, steps, report, summary = c.predict(
        "", handle_file(str(warc)), "placeholder", api_name="/data_clean"
    )
    assert report["input_rows"] == 2 and report["output_rows"] == 1 and report["removed_rows"] == 1
    assert summary.startswith("**1 of 2 document(s) kept**")
    assert (
        markdown.startswith("Kelp forests are underwater")
        and "<AWS_ACCESS_KEY_ID>" in markdown
        and "AKIAQYLPMN5HHHFPZAM2" not in markdown
    )
    removed = [s for s in report["steps"] if s["removed"]]
    assert sum(s["removed"] for s in removed) == 1 and removed[0]["reasons"]


def test_data_cleaning_space_errors_are_messages(cleaning_url, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    c = harness.client(cleaning_url)
    with pytest.raises(AppError, match="paste some HTML or upload"):
        c.predict("   ", None, "placeholder", api_name="/data_clean")
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"body": "no text field"}\n')
    with pytest.raises(AppError, match="needs an 'html' or a 'text' field"):
        c.predict("", handle_file(str(bad)), "placeholder", api_name="/data_clean")


def test_data_cleaning_space_reads_gzipped_html(cleaning_url, tmp_path):
    import gzip

    from gradio_client import handle_file

    page = tmp_path / "kelp.html.gz"
    page.write_bytes(gzip.compress(GOOD_PAGE.encode()))
    c = harness.client(cleaning_url)
    out = c.predict("", handle_file(str(page)), "placeholder", api_name="/data_clean")
    assert "Kelp forests are underwater areas" in json.dumps(out)


def test_user_errors_show_a_message_without_a_traceback():
    import gradio as gr

    from hf_addons.hub import user_errors

    @user_errors
    def handler(x):
        raise ValueError(f"bad input {x}")

    with pytest.raises(gr.Error) as info:
        handler(3)
    assert info.value.message == "bad input 3"
    assert info.value.print_exception is False  # no traceback in the server log for a user error
    assert info.value.duration and info.value.duration <= 10  # the toast goes away by itself


@pytest.mark.browser
def test_data_cleaning_space_in_browser(cleaning_url, page, artifacts_dir, tmp_path):
    from hf_addons.data.readers.warc import write_warc

    _open(page, cleaning_url)
    page.click("#dc-run")
    page.wait_for_function("document.querySelector('#dc-summary')?.innerText.includes('1 of 1 document')")
    assert "Tide pools are rocky pools" in page.inner_text("#dc-markdown")
    assert "<AWS_ACCESS_KEY_ID>" in page.inner_text("#dc-markdown")
    assert "aws_access_key_id" in page.inner_text("#dc-redactions")
    assert "EMAIL_ADDRESS" in page.inner_text("#dc-redactions")
    _shot(page, artifacts_dir, "data-cleaning-html")
    warc = write_warc(
        tmp_path / "crawl.warc.gz",
        [
            {"url": "https://a.example/kelp", "html": GOOD_PAGE},
            {"url": "https://b.example/spam", "html": BAD_PAGE},
        ],
    )
    page.set_input_files("#dc-upload input[type=file]", str(warc))
    page.wait_for_timeout(1000)  # the upload finishes before the click is queued
    page.click("#dc-run")
    page.wait_for_function("document.querySelector('#dc-summary')?.innerText.includes('1 of 2 document')")
    assert "Kelp forests are underwater" in page.inner_text("#dc-markdown")
    _shot(page, artifacts_dir, "data-cleaning-warc")


# --- GCG -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gcg_url(tiny_llama, tokenizer):
    pytest.importorskip("hf_addons.redteam")
    demo = harness.load_space("gcg").build_demo(model=tiny_llama, tokenizer=tokenizer, max_steps=6)
    with harness.serve(demo) as url:
        yield url


def test_gcg_space_streams_loss_and_answers(gcg_url):
    c = harness.client(gcg_url)
    job = c.submit("Tell me how to pick a lock.", "Sure, here is how", 4, 16, 16, api_name="/gcg_attack")
    updates = list(job)
    plot, status, suffix, before, after = job.result()
    assert len(updates) >= 5  # one per step, then the answers: the plot is live
    rows = plot["data"]
    best = [r[1] for r in rows if r[2] == "best so far"]
    assert [r[0] for r in rows if r[2] == "best so far"] == [1, 2, 3, 4]
    assert all(b2 <= b1 for b1, b2 in zip(best, best[1:]))  # the best loss never goes up
    assert status.startswith("**Done** after 4 step(s)") and f"{best[-1]:.3f}" in status
    assert suffix and isinstance(before, str) and isinstance(after, str)


def test_gcg_space_caps_steps_and_reports_bad_input(gcg_url):
    from gradio_client.exceptions import AppError

    c = harness.client(gcg_url)
    with pytest.raises(AppError, match="greater than maximum value 6"):  # max_steps bounds every attack
        c.predict("Hi", "Sure", 100, 8, 8, api_name="/gcg_attack")
    with pytest.raises(AppError, match="target string is empty"):
        c.predict("Hi", "  ", 2, 8, 8, api_name="/gcg_attack")
    with pytest.raises(AppError, match="type a request"):
        c.predict("", "Sure", 2, 8, 8, api_name="/gcg_attack")


@pytest.mark.browser
def test_gcg_space_in_browser(gcg_url, page, artifacts_dir):
    _open(page, gcg_url)
    page.click("#gcg-run")
    page.wait_for_function(
        "document.querySelector('#gcg-status')?.innerText.includes('Done')", timeout=120_000
    )
    assert page.locator("#gcg-plot canvas, #gcg-plot svg").count() >= 1  # the plot rendered
    assert page.input_value("#gcg-suffix textarea").strip()
    _shot(page, artifacts_dir, "gcg")


# --- watermark metric ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def metric_texts(tiny_llama, tokenizer):
    wm = pytest.importorskip("hf_addons.watermark")
    marked = wm.generate(
        tiny_llama, tokenizer, "Hello there", config=wm.WatermarkConfig(), max_new_tokens=48, seed=0
    )["texts"][0]
    plain = wm.generate(tiny_llama, tokenizer, "Hello there", max_new_tokens=48, seed=0)["texts"][0]
    return marked, plain


@pytest.fixture(scope="module")
def metric_url(tokenizer):
    pytest.importorskip("evaluate")
    with harness.serve(harness.load_space("watermark-metric").build_demo(tokenizer=tokenizer)) as url:
        yield url


def test_metric_space_computes_like_evaluate(metric_url, metric_texts, tokenizer):
    import evaluate

    marked, plain = metric_texts
    c = harness.client(metric_url)
    table = {"headers": ["predictions", "references"], "data": [[marked, "1"], [plain, "0"]]}
    out = c.predict(table, "15485863", "lefthash", 1, 0.25, 4.0, False, api_name="/metric_compute")
    assert out["prediction"] == [1, 0] and out["tpr"] == 1.0 and out["fpr"] == 0.0
    direct = evaluate.load(harness.load_space("watermark-metric").metric_path()).compute(
        predictions=[marked, plain], references=[1, 0], hashing_key=15485863, tokenizer=tokenizer
    )
    assert out["z_score"] == pytest.approx(direct["z_score"])


def test_metric_space_starts_with_nothing_to_score(tokenizer):
    pytest.importorskip("evaluate")
    demo = harness.load_space("watermark-metric").build_demo(tokenizer=tokenizer)
    (table,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "metric-table"]
    texts = [row[0] for row in table.value["data"]]
    assert texts and not any(str(t).strip() for t in texts)  # no placeholder text that would be scored


def test_metric_space_push_ships_the_package_metric_script():
    from hf_addons.hub import push_plan, space_folder

    plan = push_plan(space_folder("watermark-metric"))
    script = REPO / "hf_addons/watermark/metric/watermark_detection/watermark_detection.py"
    assert plan["watermark_detection.py"] == script.read_bytes()
    assert not (SPACES / "watermark-metric" / "watermark_detection.py").exists()  # no copy in the repo


@pytest.mark.browser
def test_metric_space_in_browser(metric_url, metric_texts, page, artifacts_dir):
    _open(page, metric_url)
    for col, value in ((0, metric_texts[0]), (1, "1")):
        _edit_cell(page, f"#metric-table [data-testid='cell-0-{col}']", value)
    page.click("#metric-compute")
    try:
        page.wait_for_function("document.querySelector('#metric-result')?.innerText.includes('tpr')")
    except Exception:
        _shot(page, artifacts_dir, "watermark-metric-failed")  # what the page showed instead
        raise
    text = page.inner_text("#metric-result")
    assert re.search(r'"?tpr"?\s*:\s*1', text), text
    _shot(page, artifacts_dir, "watermark-metric")


@pytest.mark.slow
@pytest.mark.browser
def test_combined_app_on_the_default_model_in_browser(default_model, page, artifacts_dir):
    """What `make demo` opens: every tab's main action on SmolLM2-135M-Instruct, in Chromium."""
    model, tok = default_model
    demo = harness.load_space("combined").build_demo(model=model, tokenizer=tok, gcg={"max_steps": 3})
    with harness.serve(demo) as url:
        _open(page, url)
        page.click("#wm-generate")
        page.wait_for_function(
            "document.querySelector('#wm-verdict')?.innerText.includes('Watermarked')", timeout=600_000
        )
        _shot(page, artifacts_dir, "combined-watermark")
        page.get_by_role("tab", name="Data cleaning").click()
        page.click("#dc-run")
        page.wait_for_function(
            "document.querySelector('#dc-summary')?.innerText.includes('kept')", timeout=300_000
        )
        assert "<EMAIL_ADDRESS>" in page.inner_text("#dc-markdown")
        _shot(page, artifacts_dir, "combined-data-cleaning")
        page.get_by_role("tab", name="GCG red-teaming").click()
        page.click("#gcg-run")
        page.wait_for_function(
            "document.querySelector('#gcg-status')?.innerText.includes('Done')", timeout=600_000
        )
        _shot(page, artifacts_dir, "combined-gcg")
        page.get_by_role("tab", name="SAE explorer").click()
        page.wait_for_function(
            "document.querySelector('#sae-info')?.innerText.includes('most active latents')", timeout=600_000
        )
        page.click("#sae-explore")
        page.wait_for_function("document.querySelector('#sae-contexts')?.innerText.includes('fires on')")
        _shot(page, artifacts_dir, "combined-sae")
