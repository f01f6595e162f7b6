"""All hf-addons Spaces as tabs of one app, sharing one model: what ``hf-addons demo`` / ``make demo`` start.

Each tab is the ``build_demo(...)`` of ``spaces/<name>/app.py`` rendered inside this app, so a tab behaves
exactly like the standalone Space.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from hf_addons.hub import load_space_app, model_name, space_model

HERE = Path(__file__).resolve().parent
# Space folder -> tab title, in display order
TABS: dict[str, str] = {
    "watermark": "Watermark",
    "watermark-metric": "Watermark metric",
    "data-cleaning": "Data cleaning",
    "gcg": "GCG red-teaming",
    "sae": "SAE explorer",
}


def build_demo(
    model: Any = None, tokenizer: Any = None, tabs: list[str] | None = None, **space_kwargs: Any
) -> gr.Blocks:
    """The combined app; ``space_kwargs`` maps a tab name to extra ``build_demo`` arguments of that Space."""
    names = list(TABS) if tabs is None else tabs
    unknown = [n for n in names if n not in TABS]
    if unknown:
        raise ValueError(f"unknown tab(s) {unknown}; expected some of {list(TABS)}")
    model, tokenizer = space_model(model, tokenizer)
    name = model_name(model)
    # build every tab before opening the parent: a Blocks created inside another renders itself there,
    # and the render() below would show it twice
    apps = {}
    for tab in names:
        # pushed as a Space, the tabs' apps sit next to this file; in the repo, in spaces/<tab>/
        module = load_space_app(tab, HERE if (HERE / tab / "app.py").exists() else None)
        apps[tab] = module.build_demo(model=model, tokenizer=tokenizer, **space_kwargs.get(tab, {}))
    with gr.Blocks(title="hf-addons demo") as demo:
        gr.Markdown(
            "# hf-addons demo\n"
            f"Watermarking (generation and the `evaluate` metric), data cleaning, GCG red-teaming and sparse "
            f"autoencoders on `{name}`. "
            "Each tab is also a standalone Space under `spaces/`."
        )
        for tab in names:
            with gr.Tab(TABS[tab], id=tab):
                apps[tab].render()
    return demo


if __name__ == "__main__":
    build_demo().launch()
