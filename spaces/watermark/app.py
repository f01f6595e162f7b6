"""Watermark Space: generate with and without a green/red-list watermark, and detect it in pasted text.

The detector needs no model, only the tokenizer and the secret key; each token of the scored text is shown
green or red, so you can see where the watermark is (and where an edit removed it).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from hf_addons.hub import MODEL_QUEUE, space_model, user_errors

SCHEMES = ["lefthash", "selfhash", "minhash", "unigram"]
COLORS = {"green": "#22c55e", "red": "#ef4444"}


def highlight(text: str, result: Any) -> list[tuple[str, str | None]]:
    """Cover the whole text with ``(span, "green" | "red" | None)``; gaps between tokens stay unlabelled."""
    if result.offsets is None:
        return result.highlights()
    spans: list[tuple[str, str | None]] = []
    pos = 0
    for (start, end), (_, label) in zip(result.offsets, result.highlights()):
        if start > pos:
            spans.append((text[pos:start], None))
        if end > start:
            spans.append((text[max(start, pos) : end], label))
        pos = max(pos, end)
    if pos < len(text):
        spans.append((text[pos:], None))
    return spans


def verdict(result: Any) -> str:
    if result.prediction is None:
        return f"**Not enough text to decide**: {result.reason}"
    mark = "**Watermarked**" if result.prediction else "**No watermark detected**"
    return (
        f"{mark}: z = {result.z_score:.2f} (threshold {result.z_threshold:.1f}), p = {result.p_value:.2e}; "
        f"{result.num_green_tokens} of {result.num_tokens_scored} scored tokens green "
        f"({result.green_fraction:.0%})"
    )


def build_demo(model: Any = None, tokenizer: Any = None, max_new_tokens: int = 120) -> gr.Blocks:
    """The Space; pass ``model``/``tokenizer`` (e.g. tiny ones in tests) or get the default model."""
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector, generate

    model, tokenizer = space_model(model, tokenizer)

    def config_from(gamma, delta, scheme, width, key, z_threshold) -> WatermarkConfig:
        key = str(key).strip()
        if not key:
            raise ValueError("the secret key is empty: type any passphrase or number")
        return WatermarkConfig(
            gamma=float(gamma),
            delta=float(delta),
            seeding_scheme=scheme,
            context_width=int(width),
            hashing_key=int(key) if key.isdigit() else key,
            z_threshold=float(z_threshold),
        )

    # instruct models answer only inside their chat template: use it whenever the tokenizer has one
    chat = getattr(tokenizer, "chat_template", None) is not None

    def detect_text(text, *settings):
        if not text or not text.strip():
            raise ValueError("paste some text to score")
        result = WatermarkDetector(config_from(*settings), tokenizer=tokenizer).detect(text)
        return highlight(text, result), verdict(result)

    @user_errors
    def run_generate(
        prompt, new_tokens, gamma, delta, scheme, context_width, key, z_threshold, progress=gr.Progress()
    ):
        if not prompt or not prompt.strip():
            raise ValueError("type a prompt first")
        settings = (gamma, delta, scheme, context_width, key, z_threshold)
        config = config_from(*settings)
        out: list[Any] = [gr.skip()] * 6
        for i, (cfg, label) in enumerate(((config, "with watermark"), (None, "without watermark"))):
            progress(i / 2, desc=f"generating {label}")
            text = generate(
                model, tokenizer, prompt, config=cfg, max_new_tokens=int(new_tokens), chat=chat, seed=0
            )["texts"][0]
            if not text.strip():
                text = "(the model produced no text)"
            out[3 * i : 3 * i + 3] = [text, *detect_text(text, *settings)]
            yield tuple(out)

    @user_errors
    def run_detect(text, gamma, delta, scheme, context_width, key, z_threshold):
        return detect_text(text, gamma, delta, scheme, context_width, key, z_threshold)

    with gr.Blocks(title="Watermark") as demo:
        gr.Markdown(
            "## Green/red-list watermark (Kirchenbauer et al. 2023)\n"
            "Generation adds `delta` to a key-dependent *green* share `gamma` of the vocabulary at each step; "
            "the detector counts green tokens and reports a z-score. Same settings and key on both sides."
        )
        with gr.Accordion("Watermark settings", open=False):
            with gr.Row():
                gamma = gr.Slider(0.05, 0.95, value=0.25, step=0.05, label="gamma (green share)")
                delta = gr.Slider(0.0, 10.0, value=2.0, step=0.5, label="delta (logit bias)")
                z_thr = gr.Slider(1.0, 8.0, value=4.0, step=0.5, label="z threshold")
            with gr.Row():
                scheme = gr.Dropdown(SCHEMES, value="lefthash", label="seeding scheme")
                width = gr.Slider(1, 8, value=1, step=1, label="context width")
                key = gr.Textbox(value="15485863", label="secret key", type="password")
        settings = [gamma, delta, scheme, width, key, z_thr]
        with gr.Tab("Generate"):
            prompt = gr.Textbox(
                value="Write a short paragraph about the ocean.", label="prompt", lines=2, elem_id="wm-prompt"
            )
            n_tokens = gr.Slider(8, 400, value=max_new_tokens, step=8, label="new tokens")
            gen_btn = gr.Button(
                "Generate with and without watermark", variant="primary", elem_id="wm-generate"
            )
            with gr.Row():
                with gr.Column():
                    wm_text = gr.Textbox(label="with watermark", lines=5, elem_id="wm-text")
                    wm_hl = gr.HighlightedText(label="tokens", color_map=COLORS, show_legend=True)
                    wm_verdict = gr.Markdown(elem_id="wm-verdict")
                with gr.Column():
                    plain_text = gr.Textbox(label="without watermark", lines=5, elem_id="plain-text")
                    plain_hl = gr.HighlightedText(label="tokens", color_map=COLORS, show_legend=True)
                    plain_verdict = gr.Markdown(elem_id="plain-verdict")
        with gr.Tab("Detect"):
            pasted = gr.Textbox(label="text to score", lines=6, elem_id="detect-text")
            det_btn = gr.Button("Detect", variant="primary", elem_id="wm-detect")
            det_verdict = gr.Markdown(elem_id="detect-verdict")
            det_hl = gr.HighlightedText(
                label="green / red tokens", color_map=COLORS, show_legend=True, elem_id="detect-highlight"
            )
        gen_btn.click(
            run_generate,
            [prompt, n_tokens, *settings],
            [wm_text, wm_hl, wm_verdict, plain_text, plain_hl, plain_verdict],
            api_name="watermark_generate",
            **MODEL_QUEUE,
        )
        det_btn.click(run_detect, [pasted, *settings], [det_hl, det_verdict], api_name="watermark_detect")
    return demo


if __name__ == "__main__":
    build_demo().launch()
