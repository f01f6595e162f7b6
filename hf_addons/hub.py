"""Model/dataset cards from the templates in ``model_cards/`` and what a push to the Hub would upload.

Cards are Jinja templates with YAML front matter (``model_cards/<kind>.md``), rendered through
``huggingface_hub.ModelCard`` so the metadata block is validated the way the Hub validates it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "model_cards"
_REPO_TEMPLATES = Path(__file__).resolve().parents[1] / "model_cards"


def templates_dir() -> Path:
    """The repo's ``model_cards/`` in a checkout, else the copy installed inside the package."""
    return _REPO_TEMPLATES if _REPO_TEMPLATES.is_dir() else _PACKAGE_TEMPLATES


def render_card(kind: str, **fields: Any) -> str:
    """Render ``model_cards/<kind>.md`` with ``fields``; raises naming the available templates if missing."""
    from huggingface_hub import ModelCard, ModelCardData

    template = templates_dir() / f"{kind}.md"
    if not template.exists():
        available = sorted(p.stem for p in templates_dir().glob("*.md"))
        raise FileNotFoundError(f"no model card template {template.name!r}; available: {available}")
    card = ModelCard.from_template(card_data=ModelCardData(), template_path=str(template), **fields)
    return str(card)
