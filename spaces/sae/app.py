"""SAE explorer Space: pick a sparse-autoencoder latent, see the contexts that fire it most, its direct
effect on the output logits, and what generation does when the model is steered along it.

Pass an SAE (``build_demo(sae=...)``, ``$HF_ADDONS_SAE`` = a Hub id or folder). Without one, a small demo SAE is
trained once on the model's activations over a demo corpus and cached, so the Space works offline.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import gradio as gr

from hf_addons.hub import MODEL_QUEUE, space_model, user_errors

SAE_ENV = "HF_ADDONS_SAE"
CONTEXT = 8  # tokens shown on each side of a top activation


def demo_corpus(max_texts: int = 400) -> list[str]:
    """News articles from ``../shared`` when present, else the Python standard library's docstrings (offline)."""
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "article-extraction"
    truth = shared / "ground-truth.json"
    if truth.exists():
        texts = [v["articleBody"] for v in json.loads(truth.read_text(encoding="utf-8")).values()]
        return [t for t in texts if t.strip()][:max_texts]
    import importlib
    import inspect

    texts = []
    for name in (
        "json",
        "collections",
        "argparse",
        "logging",
        "pathlib",
        "re",
        "typing",
        "unittest",
        "email.message",
        "http.client",
        "urllib.request",
        "zipfile",
        "statistics",
        "decimal",
    ):
        module = importlib.import_module(name)
        texts += [doc for _, obj in inspect.getmembers(module) if len(doc := inspect.getdoc(obj) or "") > 200]
    return texts[:max_texts]


def demo_sae(
    model: Any, tokenizer: Any, texts: list[str], layer: int | None = None, max_tokens: int = 12_000
):
    """Train (once, then cached) a small TopK SAE on ``layer``'s residual stream over ``texts``."""
    import hashlib

    from hf_addons.interp import SparseAutoencoder
    from hf_addons.interp.activations import resolve_hook
    from hf_addons.interp.trainer import SAETrainingArguments, train_sae
    from hf_addons.models import cache_dir

    spec = resolve_hook(model, layer if layer is not None else max(model.config.num_hidden_layers // 5, 0))
    name = str(getattr(model.config, "name_or_path", "") or "model")
    key = hashlib.sha256(
        json.dumps([name, model.config.to_dict().get("hidden_size"), texts]).encode()
    ).hexdigest()
    target = cache_dir() / "sae-demo" / f"{Path(name).name}-layer{spec.layer}-{key[:12]}"
    if (target / "config.json").exists():
        return SparseAutoencoder.from_pretrained(target).eval()
    import time

    import torch
    from tqdm.auto import tqdm

    from hf_addons.interp.activations import iter_activations

    start = time.perf_counter()
    print(
        f"SAE explorer: training a small demo SAE on layer {spec.layer} (once, about a minute on 2 cores; "
        f"cached in {target})",
        flush=True,
    )
    parts, bar = [], tqdm(total=max_tokens, desc="SAE demo: activations", unit="tok")
    for chunk in iter_activations(model, tokenizer, texts, layer=spec.layer, context_size=128):
        parts.append(chunk)
        bar.update(min(chunk.shape[0], max_tokens - bar.n))
        if bar.n >= max_tokens:
            break
    bar.close()
    acts = torch.cat(parts)[:max_tokens]
    d_in = acts.shape[-1]
    sae = train_sae(
        acts,
        d_in=d_in,
        expansion_factor=4,
        k=16,
        model_name=Path(name).name if Path(name).name != "model" else Path(name).parent.name,
        layer=spec.layer,
        hook_name=spec.module_name,
        args=SAETrainingArguments(total_tokens=5 * acts.shape[0], batch_size=1024, progress=True, seed=0),
    )
    sae.eval().save_pretrained(target)
    print(f"SAE explorer: demo SAE ready in {time.perf_counter() - start:.0f} s", flush=True)
    return sae


def load_sae(sae: Any, model: Any, tokenizer: Any, texts: list[str]) -> Any:
    if sae is not None:
        return sae.eval()
    name = os.environ.get(SAE_ENV)
    if name:
        from hf_addons.interp import SparseAutoencoder

        return SparseAutoencoder.from_pretrained(name).eval()
    return demo_sae(model, tokenizer, texts)


class Explorer:
    """Every latent's top contexts, firing count and the corpus' mean residual norm, computed once (one pass of
    the library's ``top_contexts`` over the corpus); queries read them, or call ``logit_effect`` / ``steer``."""

    def __init__(
        self, model: Any, tokenizer: Any, sae: Any, texts: list[str], max_tokens: int = 8_000, top_k: int = 8
    ):
        import torch

        from hf_addons.interp import top_contexts

        self.model, self.tokenizer, self.sae = model, tokenizer, sae
        rows, stats = top_contexts(
            sae,
            model,
            tokenizer,
            texts,
            latents=None,
            top_k=top_k,
            window=CONTEXT,
            context_size=128,
            batch_size=8,
            max_tokens=max_tokens,
            return_stats=True,
        )
        self.contexts = [row["contexts"] for row in rows]
        self.freq = torch.tensor([row["count"] for row in rows])
        self.n_tokens = stats["n_tokens"]
        self.resid_norm = stats["mean_norm"]

    def top_latents(self, n: int = 30) -> list[int]:
        """Latents that fire on the most tokens (dead ones excluded)."""
        order = self.freq.argsort(descending=True, stable=True)[:n]
        return [int(i) for i in order[self.freq[order] > 0].tolist()]

    def check(self, latent: Any) -> int:
        try:
            latent = int(latent)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"latent must be an integer, got {latent!r}") from exc
        if not 0 <= latent < self.sae.config.d_sae:
            raise ValueError(f"latent {latent} out of range: this SAE has {self.sae.config.d_sae} latents")
        return latent

    def top_contexts(self, latent: int, n: int = 8) -> list[dict[str, Any]]:
        """The ``n`` (at most the ``top_k`` kept) strongest activations of ``latent``, ``CONTEXT`` tokens each
        side: ``{"activation", "left", "token", "right", ...}``."""
        return self.contexts[latent][:n]

    def logit_effect(self, latent: int, n: int = 10) -> tuple[list[list[Any]], list[list[Any]]]:
        """Tokens whose logits the latent's decoder direction raises / lowers most (direct path, W_U)."""
        from hf_addons.interp import logit_effect

        (effect,) = logit_effect(self.sae, self.model, self.tokenizer, latent, top_k=n)
        return (
            [[w, round(v, 3)] for w, v in effect["positive"]],
            [[w, round(v, 3)] for w, v in effect["negative"]],
        )

    def steer(self, prompt: str, latent: int, strength: float, max_new_tokens: int = 40) -> str:
        """Greedy chat reply with the latent's unit decoder direction added at the SAE's layer, scaled by
        ``strength`` x the layer's mean residual norm (so one scale fits any model)."""
        from hf_addons.interp import generate_steered

        norm = float(self.sae.W_dec[latent].detach().float().norm().clamp_min(1e-8))
        text = generate_steered(
            self.model,
            self.tokenizer,
            self.sae,
            prompt,
            {latent: strength * self.resid_norm / norm},
            max_new_tokens=max_new_tokens,
            # instruct models answer inside their chat template: use it whenever the tokenizer has one
            chat=getattr(self.tokenizer, "chat_template", None) is not None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return text if text.strip() else "(the model produced no text)"


def build_demo(
    model: Any = None,
    tokenizer: Any = None,
    sae: Any = None,
    texts: list[str] | None = None,
    max_tokens: int = 8_000,
) -> gr.Blocks:
    """The Space; ``sae`` / ``texts`` (the corpus the top contexts come from) default as the module says."""
    model, tokenizer = space_model(model, tokenizer)
    texts = texts if texts is not None else demo_corpus()
    if not texts:
        raise ValueError("the SAE explorer needs a non-empty text corpus")
    sae = load_sae(sae, model, tokenizer, texts)
    cfg = sae.config
    lock = threading.Lock()
    cache: dict[str, Explorer] = {}

    def get_explorer() -> Explorer:
        """Corpus statistics on first use (page load or first call), so the app starts at once."""
        with lock:
            if "explorer" not in cache:
                cache["explorer"] = Explorer(model, tokenizer, sae, texts, max_tokens=max_tokens)
            return cache["explorer"]

    def on_load(progress=gr.Progress()):
        progress(0, desc="running the model over the corpus")
        explorer = get_explorer()
        choices = explorer.top_latents()
        first = choices[0] if choices else 0
        info = (
            f"Top contexts over {explorer.n_tokens} corpus tokens; {len(choices)} most active latents listed."
        )
        return gr.update(choices=choices, value=first), first, info

    @user_errors
    def explore(latent):
        explorer = get_explorer()
        latent = explorer.check(latent)
        rows = explorer.top_contexts(latent)
        freq = int(explorer.freq[latent])
        head = f"**Latent {latent}** fires on {freq} of {explorer.n_tokens} tokens ({freq / explorer.n_tokens:.2%})."
        if not rows:
            return head + " It never fired on this corpus.", [], []
        table = "\n".join(
            f"| {r['activation']:.2f} | {_md(r['left'])} **[{_md(r['token'])}]** {_md(r['right'])} |"
            for r in rows
        )
        up, down = explorer.logit_effect(latent)
        return f"{head}\n\n| activation | context |\n|---|---|\n{table}", up, down

    @user_errors
    def steer(prompt, latent, strength):
        explorer = get_explorer()
        latent = explorer.check(latent)
        if not prompt or not prompt.strip():
            raise ValueError("type a prompt to steer")
        return explorer.steer(prompt, latent, 0.0), explorer.steer(prompt, latent, float(strength))

    with gr.Blocks(title="SAE explorer") as demo:
        gr.Markdown(
            "## Sparse-autoencoder explorer\n"
            f"SAE: {cfg.architecture}, {cfg.d_in} → {cfg.d_sae} latents on `{cfg.hook_name or cfg.hook_point}` "
            f"(layer {cfg.layer}) of `{cfg.model_name or 'the model'}`."
        )
        info = gr.Markdown("Computing latent statistics over the corpus...", elem_id="sae-info")
        with gr.Row():
            pick = gr.Dropdown([], label="most active latents", elem_id="sae-pick")
            latent = gr.Number(value=0, precision=0, label="latent", elem_id="sae-latent")
            go = gr.Button("Explore", variant="primary", elem_id="sae-explore")
        contexts = gr.Markdown(elem_id="sae-contexts")
        with gr.Row():
            up = gr.Dataframe(headers=["token", "logit +"], label="tokens it promotes", elem_id="sae-up")
            down = gr.Dataframe(
                headers=["token", "logit -"], label="tokens it suppresses", elem_id="sae-down"
            )
        with gr.Row():
            prompt = gr.Textbox(value="Tell me about your day.", label="prompt", elem_id="sae-prompt")
            strength = gr.Slider(
                -2,
                2,
                value=0.5,
                step=0.05,
                label="steering strength (x mean residual norm)",
                elem_id="sae-strength",
            )
            steer_btn = gr.Button("Steer", elem_id="sae-steer")
        with gr.Row():
            plain = gr.Textbox(label="without steering", lines=3, elem_id="sae-plain")
            steered = gr.Textbox(label="steered", lines=3, elem_id="sae-steered")
        demo.load(on_load, None, [pick, latent, info], api_name=False, **MODEL_QUEUE)
        pick.change(lambda v: v, pick, latent, api_name=False)
        go.click(explore, latent, [contexts, up, down], api_name="sae_explore", **MODEL_QUEUE)
        steer_btn.click(
            steer, [prompt, latent, strength], [plain, steered], api_name="sae_steer", **MODEL_QUEUE
        )
    return demo


def _md(text: str) -> str:
    """Context text safe inside a Markdown table cell."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\n", "⏎")
        .replace("<", "&lt;")
        .replace("*", "\\*")
    )


if __name__ == "__main__":
    build_demo().launch()
