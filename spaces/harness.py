"""Run a Space in-process and drive it like a user: ``gradio_client`` calls and headless Debian Chromium.

Used by ``tests/test_spaces*.py``: ``serve(demo)`` starts the app on a free localhost port and yields its
URL; ``browser()`` yields a Playwright page in the system Chromium (never a downloaded browser), or raises
``BrowserUnavailable`` so the tests can skip cleanly where Chromium or Playwright is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

SPACES_DIR = Path(__file__).resolve().parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# flags that keep a headless Chromium offline and quiet in CI containers
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class BrowserUnavailable(RuntimeError):
    """System Chromium or the ``playwright`` package is missing; browser tests skip on this."""


def load_space(name: str) -> ModuleType:
    """``spaces/<name>/app.py`` as a module (see ``hf_addons.hub.load_space_app``)."""
    from hf_addons.hub import load_space_app

    return load_space_app(name, SPACES_DIR)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(demo: Any) -> Iterator[str]:
    """Launch ``demo`` (a ``gr.Blocks``) on a free localhost port without blocking; yields its URL."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
        ssr_mode=False,
    )
    try:
        yield demo.local_url.rstrip("/") + "/"
    finally:
        demo.close()


def client(url: str) -> Any:
    """A ``gradio_client.Client`` for ``url`` that prints nothing and never reaches the Hub."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrowserUnavailable("Debian's chromium is not installed (apt-get install -y chromium)")


@contextlib.contextmanager
def browser(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright page in the system Chromium, headless and offline except for localhost."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserUnavailable("the playwright package is not installed (pip install playwright)") from exc
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = chromium.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            chromium.close()
