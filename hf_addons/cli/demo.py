"""``hf-addons demo``: the combined demo app; until the Spaces exist, a quick tour on the default model."""

from __future__ import annotations

import argparse
import time


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="Hub id or local path; omitted: the embedded default model"
    )
    parser.add_argument("--prompt", default="Explain in one sentence what a language model watermark is.")
    parser.set_defaults(func=_tour)


def _tour(args: argparse.Namespace) -> int:
    from hf_addons.models import load_model

    t0 = time.perf_counter()
    model, tok = load_model(args.model)
    print(f"loaded {model.config.name_or_path} in {time.perf_counter() - t0:.1f}s")
    ids = tok.apply_chat_template(
        [{"role": "user", "content": args.prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    ).to(model.device)
    out = model.generate(**ids, max_new_tokens=48, do_sample=False)
    print(tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return 0
