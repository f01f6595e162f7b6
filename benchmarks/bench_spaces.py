"""Spaces and Hub overheads, side by side with the plain library call they wrap.

1. Watermark detection through the served Space (``gradio_client`` -> queue -> handler) vs
   ``WatermarkDetector.detect`` called directly on the same text: the serving overhead per request.
2. ``hub.push_plan(sae)`` (stage + card + upload_folder's file filter, read back) vs the anchor
   ``PreTrainedModel.save_pretrained`` to a temp dir: the cost of an exact offline push plan.
3. ``hf-addons demo`` start-up: combined app build + launch on the default model vs ``load_model`` alone,
   and the first page load in headless Chromium (when present).

Run: python benchmarks/bench_spaces.py [--requests 20]
The machine is shared: absolute times move with its load; the side-by-side ratios are what count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "spaces"))
from _common import write_result  # noqa: E402


def _median_s(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    import torch
    from harness import BrowserUnavailable, browser, client, load_space, serve

    from hf_addons import hub
    from hf_addons.interp import SAEConfig, SparseAutoencoder
    from hf_addons.models import load_model
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector, generate

    results: dict = {}
    t0 = time.perf_counter()
    model, tok = load_model(device="cpu")
    results["load_model_s"] = time.perf_counter() - t0

    # 1. detection latency: Space vs direct
    cfg = WatermarkConfig()
    text = generate(
        model, tok, "Write a paragraph about the ocean.", config=cfg, max_new_tokens=200, chat=True, seed=0
    )["texts"][0]
    detector = WatermarkDetector(cfg, tokenizer=tok)
    detector.detect(text)
    direct = _median_s(lambda: detector.detect(text), args.requests)
    # first build may train and cache the SAE tab's demo SAE; the second is what every later start costs
    t0 = time.perf_counter()
    load_space("combined").build_demo(model=model, tokenizer=tok)
    results["combined_first_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    demo = load_space("combined").build_demo(model=model, tokenizer=tok)
    with serve(demo) as url:
        results["combined_build_and_launch_s"] = time.perf_counter() - t0
        c = client(url)
        settings = [0.25, 2.0, "lefthash", 1, "15485863", 4.0]
        c.predict(text, *settings, api_name="/watermark_detect")
        served = _median_s(lambda: c.predict(text, *settings, api_name="/watermark_detect"), args.requests)
        try:
            with browser() as page:
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("#wm-generate")
                results["first_page_load_chromium_s"] = time.perf_counter() - t0
        except BrowserUnavailable as exc:
            results["first_page_load_chromium_s"] = f"not measured: {exc}"
    results.update(detect_direct_s=direct, detect_served_s=served, text_tokens=len(tok(text)["input_ids"]))

    # 2. push plan vs save_pretrained (SmolLM2-sized SAE: 576 -> 9216 latents)
    torch.manual_seed(0)
    sae = SparseAutoencoder(
        SAEConfig(d_in=576, expansion_factor=16, k=32, model_name="SmolLM2-135M-Instruct", layer=15)
    )

    def save():
        with tempfile.TemporaryDirectory() as tmp:
            sae.save_pretrained(tmp)

    save()
    anchor_save = _median_s(save, 5)
    plan_s = _median_s(lambda: hub.push_plan(sae), 5)
    results.update(
        sae_save_pretrained_s=anchor_save,
        sae_push_plan_s=plan_s,
        sae_plan_bytes=sum(len(b) for b in hub.push_plan(sae).values()),
    )

    overhead_ms = (served - direct) * 1000
    summary = [
        {
            "capability": "spaces",
            "metric": f"watermark detect, {results['text_tokens']} tokens, per request (s)",
            "anchor": "WatermarkDetector.detect direct",
            "anchor_value": round(direct, 4),
            "ours": round(served, 4),
            "ratio": round(direct / served, 3),
            "unit": "s",
            "target": "serving overhead < 100 ms",
            "met": overhead_ms < 100,
        },
        {
            "capability": "hub",
            "metric": "SAE 576x9216 exact push plan (s)",
            "anchor": "save_pretrained",
            "anchor_value": round(anchor_save, 3),
            "ours": round(plan_s, 3),
            "ratio": round(anchor_save / plan_s, 3),
            "unit": "s",
            "target": "<= 2x save_pretrained",
            "met": plan_s <= 2 * anchor_save,
        },
        {
            "capability": "spaces",
            "metric": "hf-addons demo start: build+launch all tabs after model load (s)",
            "anchor": "load_model",
            "anchor_value": round(results["load_model_s"], 2),
            "ours": round(results["combined_build_and_launch_s"], 2),
            "ratio": round(results["load_model_s"] / results["combined_build_and_launch_s"], 3),
            "unit": "s",
            "target": "< 10 s",
            "met": results["combined_build_and_launch_s"] < 10,
        },
    ]
    print(f"serving overhead per detect request: {overhead_ms:.1f} ms")
    write_result("spaces", results, summary)


if __name__ == "__main__":
    main()
