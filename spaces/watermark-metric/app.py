"""The watermark-detection metric as an ``evaluate`` module hosted by a Space.

Pushed to the Hub, this folder also holds ``watermark_detection.py`` (the package's metric script, added at
push time by ``space.json``), so ``evaluate.load("<user>/<space>")`` loads the metric from the Space and this
app is its widget. Locally the script is read from the installed package.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gradio as gr

from hf_addons.hub import space_tokenizer, user_errors

HERE = Path(__file__).resolve().parent
SCRIPT = "watermark_detection.py"


def metric_path() -> str:
    """The metric script next to this app (on the Space), else the one inside the installed package."""
    if (HERE / SCRIPT).exists():
        return str(HERE / SCRIPT)
    import hf_addons.watermark

    return str(Path(hf_addons.watermark.__file__).parent / "metric" / "watermark_detection" / SCRIPT)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def build_demo(model: Any = None, tokenizer: Any = None) -> gr.Blocks:
    """The metric widget; ``tokenizer`` defaults to the default model's (the model itself is never needed)."""
    import evaluate

    del model
    tokenizer = space_tokenizer(tokenizer)
    metric = evaluate.load(metric_path())

    @user_errors
    def compute(table, key, scheme, width, gamma, z_threshold, windowed):
        rows = [
            r
            for r in (table.values.tolist() if hasattr(table, "values") else table or [])
            if r and str(r[0]).strip()
        ]
        if not rows:
            raise ValueError("add at least one text in the 'predictions' column")
        labels = [str(r[1]).strip() if len(r) > 1 and r[1] is not None else "" for r in rows]
        if any(labels) and not all(lab in ("0", "1") for lab in labels):
            raise ValueError("references must be 1 (watermarked) or 0 (not) for every text, or empty for all")
        key = str(key).strip()
        if not key:
            raise ValueError("the secret key is empty")
        out = metric.compute(
            predictions=[str(r[0]) for r in rows],
            references=[int(lab) for lab in labels] if all(labels) else None,
            hashing_key=int(key) if key.isdigit() else key,
            tokenizer=tokenizer,
            seeding_scheme=scheme,
            context_width=int(width),
            gamma=float(gamma),
            z_threshold=float(z_threshold),
            windowed=bool(windowed),
        )
        return {k: _json_safe(v) for k, v in out.items()}

    with gr.Blocks(title="Watermark detection metric") as demo:
        gr.Markdown(
            "## Watermark detection (an `evaluate` metric)\n"
            "z-test for the green/red-list watermark (Kirchenbauer et al. 2023): per-text z-scores, p-values "
            "and decisions, plus TPR/FPR when references (1 = watermarked, 0 = not) are given.\n\n"
            '`evaluate.load("<this space>").compute(predictions=texts, references=labels, hashing_key=...)`'
        )
        table = gr.Dataframe(
            headers=["predictions", "references"],
            datatype=["str", "str"],
            value=[["", ""]] * 3,  # empty: a placeholder would be scored as if it were a text
            row_count=3,
            column_count=(2, "fixed"),
            label="texts to score (one per row) and optional labels: 1 = watermarked, 0 = not",
            elem_id="metric-table",
        )
        with gr.Row():
            key = gr.Textbox(value="15485863", label="secret key", type="password")
            scheme = gr.Dropdown(
                ["lefthash", "selfhash", "minhash", "unigram"], value="lefthash", label="seeding scheme"
            )
            width = gr.Slider(1, 8, value=1, step=1, label="context width")
            gamma = gr.Slider(0.05, 0.95, value=0.25, step=0.05, label="gamma")
            z_thr = gr.Slider(1.0, 8.0, value=4.0, step=0.5, label="z threshold")
            windowed = gr.Checkbox(label="scan for a watermarked span (WinMax)")
        btn = gr.Button("Compute", variant="primary", elem_id="metric-compute")
        result = gr.JSON(label="metric.compute(...)", elem_id="metric-result")
        btn.click(
            compute, [table, key, scheme, width, gamma, z_thr, windowed], result, api_name="metric_compute"
        )
    return demo


if __name__ == "__main__":
    build_demo().launch()
