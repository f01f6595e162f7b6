"""``hf-addons demo``: the combined demo app (every Space in ``spaces/`` as a tab) on the default model."""

from __future__ import annotations

import argparse
import time


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="Hub id or local path; omitted: the embedded default model"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    parser.add_argument(
        "--port", type=int, default=7860, help="port (default 7860; the next free one is used)"
    )
    parser.add_argument(
        "--tabs", default=None, help="comma-separated subset of tabs, e.g. watermark,sae (default: all)"
    )
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.set_defaults(func=_demo)


def _free_port(host: str, start: int) -> int:
    import socket

    for port in range(start, start + 100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{start + 99} on {host}")


def _demo(args: argparse.Namespace) -> int:
    from hf_addons.hub import load_space_app, model_name
    from hf_addons.models import load_model

    t0 = time.perf_counter()
    print(f"loading {args.model or 'the embedded default model'}...", flush=True)
    try:
        model, tok = load_model(args.model)
    except OSError as exc:  # transformers' "not a repo id / not a folder": a message, not a traceback
        raise RuntimeError(f"could not load model {args.model!r}: {exc}") from exc
    print(f"loaded {model_name(model)} in {time.perf_counter() - t0:.1f}s", flush=True)
    tabs = [t.strip() for t in args.tabs.split(",") if t.strip()] if args.tabs else None
    print("building the app...", flush=True)
    demo = load_space_app("combined").build_demo(model=model, tokenizer=tok, tabs=tabs)
    port = _free_port(args.host, args.port)
    # quiet: gradio's own banner suggests `share=True`; this command's flag is --share
    demo.queue().launch(
        server_name=args.host, server_port=port, share=args.share, prevent_thread_lock=True, quiet=True
    )
    print(f"hf-addons demo running at {demo.local_url}  (Ctrl+C to stop)", flush=True)
    if getattr(demo, "share_url", None):
        print(f"public link: {demo.share_url}", flush=True)
    elif not args.share:
        print("for a public gradio.live link, run: hf-addons demo --share", flush=True)
    try:
        demo.block_thread()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        demo.close()
    return 0
