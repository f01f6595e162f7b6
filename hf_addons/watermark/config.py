"""``WatermarkConfig``: everything generation and detection must agree on, saved like a peft config.

The hashing key is a secret: ``save_pretrained`` / ``push_to_hub`` leave it out unless ``include_key=True``,
so a config can be published for reproducibility without handing out the means to forge or strip the mark.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "watermark_config.json"
# transformers' WatermarkingConfig default: public, so anyone can detect, strip or forge marks made with it
PUBLIC_KEY = 15485863
_public_key_warned = False
SCHEMES = ("lefthash", "minhash", "selfhash", "unigram")
INTEROP = (None, "transformers")


class MissingKeyError(ValueError):
    """Raised when generation or detection is asked for but the config carries no hashing key."""


class PublicKeyWarning(UserWarning):
    """The config uses the public default hashing key: fine for tests and interop, not as evidence."""


def warn_if_public_key(config: WatermarkConfig) -> None:
    """Warn once per process when a processor or detector is built with the public default key."""
    global _public_key_warned
    if _public_key_warned or config.hashing_key is None or key_to_int(config.hashing_key) != PUBLIC_KEY:
        return
    _public_key_warned = True
    warnings.warn(
        "this WatermarkConfig uses the public default hashing_key (transformers' WatermarkingConfig default): "
        "anyone can detect, remove or forge this watermark. Pass a secret hashing_key=... (an int or a "
        "passphrase) for a watermark that means something; keep the default only for tests or to score "
        "text generated with transformers' default.",
        PublicKeyWarning,
        stacklevel=3,
    )


def key_to_int(key: int | str) -> int:
    """Integer form of a key; strings are hashed (sha256) so CLI users can pass a passphrase."""
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise TypeError(f"hashing_key must be an int or a str, got {type(key).__name__}")
    if isinstance(key, str):
        if not key:
            raise ValueError("hashing_key must not be an empty string")
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    if key < 0:
        raise ValueError(f"hashing_key must be non-negative, got {key}")
    return key


@dataclass(repr=False)
class WatermarkConfig:
    """Green/red-list watermark settings (Kirchenbauer et al. 2023).

    gamma: fraction of the vocabulary that is green at each step. delta: logit bias added to green tokens.
    seeding_scheme: ``lefthash`` (hash of the previous ``context_width`` tokens; the paper's default with
    width 1), ``minhash`` (min of the previous tokens' hashes: an edit elsewhere in the window keeps the seed),
    ``selfhash`` (anchored min-hash over the candidate token and ``context_width - 1`` previous tokens, the
    robust choice of "On the Reliability of Watermarks"), ``unigram`` (one fixed green list, Zhao et al. 2023).
    interop="transformers" reproduces transformers' ``WatermarkingConfig`` seeding exactly (lefthash/selfhash).
    """

    gamma: float = 0.25
    delta: float = 2.0
    seeding_scheme: str = "lefthash"
    context_width: int = 1
    hashing_key: int | str | None = PUBLIC_KEY
    ignore_token_ids: list[int] = field(default_factory=list)
    z_threshold: float = 4.0
    ignore_repeated_ngrams: bool = True
    vocab_size: int | None = None
    interop: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 < float(self.gamma) < 1.0:
            raise ValueError(f"gamma must be in (0, 1), got {self.gamma}")
        if float(self.delta) < 0:
            raise ValueError(f"delta must be >= 0, got {self.delta}")
        if self.seeding_scheme not in SCHEMES:
            raise ValueError(f"unknown seeding_scheme {self.seeding_scheme!r}; expected one of {SCHEMES}")
        if self.interop not in INTEROP:
            raise ValueError(f"unknown interop {self.interop!r}; expected None or 'transformers'")
        if self.interop == "transformers" and self.seeding_scheme not in ("lefthash", "selfhash"):
            raise ValueError("interop='transformers' supports seeding_scheme 'lefthash' or 'selfhash' only")
        if self.interop == "transformers" and self.vocab_size is None:
            raise ValueError("interop='transformers' needs vocab_size (the model config's vocab_size)")
        if int(self.context_width) < 1:
            raise ValueError(f"context_width must be >= 1, got {self.context_width}")
        if self.vocab_size is not None and int(self.vocab_size) < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        if self.hashing_key is not None:
            key_to_int(self.hashing_key)
        if self.interop == "transformers" and not isinstance(self.hashing_key, (int, type(None))):
            raise ValueError("interop='transformers' needs an integer hashing_key")
        self.context_width = int(self.context_width)
        self.ignore_token_ids = sorted({int(t) for t in self.ignore_token_ids})

    def __repr__(self) -> str:
        """Every field but the key, which shows as ``<secret>`` (or None): safe for logs and notebooks."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "hashing_key" and value is not None:
                value = "<public default>" if key_to_int(value) == PUBLIC_KEY else "<secret>"
                parts.append(f"{f.name}={value}")
            else:
                parts.append(f"{f.name}={value!r}")
        return f"WatermarkConfig({', '.join(parts)})"

    __str__ = __repr__

    # --- derived -------------------------------------------------------------------------------------------
    @property
    def key(self) -> int:
        """The integer key; raises a clear error when the config was loaded without its secret key."""
        if self.hashing_key is None:
            raise MissingKeyError(
                "this WatermarkConfig has no hashing_key (saved configs leave the secret out): pass "
                "hashing_key=... to WatermarkConfig.from_pretrained(...) or set config.hashing_key"
            )
        return key_to_int(self.hashing_key)

    @property
    def context_needed(self) -> int:
        """Tokens of left context a scored token needs (0 for unigram; selfhash counts the token itself)."""
        if self.seeding_scheme == "unigram":
            return 0
        if self.seeding_scheme == "selfhash":
            return self.context_width - 1
        return self.context_width

    # --- conversion ----------------------------------------------------------------------------------------
    @classmethod
    def from_transformers(
        cls, watermarking_config: Any, vocab_size: int, **overrides: Any
    ) -> WatermarkConfig:
        """Config that scores text generated with transformers' ``WatermarkingConfig`` (same seeding)."""
        d = watermarking_config if isinstance(watermarking_config, dict) else watermarking_config.to_dict()
        kwargs = dict(
            gamma=d.get("greenlist_ratio", 0.25),
            delta=d.get("bias", 2.0),
            seeding_scheme=d.get("seeding_scheme", "lefthash"),
            context_width=d.get("context_width", 1),
            hashing_key=d.get("hashing_key", PUBLIC_KEY),
            vocab_size=vocab_size,
            interop="transformers",
            ignore_repeated_ngrams=False,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    def to_transformers(self):
        """transformers' ``WatermarkingConfig`` with the same settings (interop mode only)."""
        from transformers import WatermarkingConfig

        if self.interop != "transformers":
            raise ValueError(
                "only an interop='transformers' config maps onto transformers' WatermarkingConfig"
            )
        return WatermarkingConfig(
            greenlist_ratio=self.gamma,
            bias=self.delta,
            hashing_key=self.key,
            seeding_scheme=self.seeding_scheme,
            context_width=self.context_width,
        )

    def to_dict(self, include_key: bool = False) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not include_key:
            d["hashing_key"] = None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], **overrides: Any) -> WatermarkConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown WatermarkConfig fields: {unknown}")
        return cls(**{**d, **overrides})

    def save_pretrained(self, save_directory: str | os.PathLike, include_key: bool = False) -> Path:
        """Write ``watermark_config.json``; the secret key only with ``include_key=True``."""
        path = Path(save_directory)
        if path.exists() and not path.is_dir():
            raise ValueError(f"save_pretrained needs a directory, got a file: {path}")
        path.mkdir(parents=True, exist_ok=True)
        out = path / CONFIG_NAME
        out.write_text(json.dumps(self.to_dict(include_key=include_key), indent=2) + "\n")
        return out

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **overrides: Any) -> WatermarkConfig:
        """Load from a directory, a JSON file or a Hub repo id; ``overrides`` (e.g. ``hashing_key``) win."""
        path = Path(name_or_path)
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.exists():
            if Path(name_or_path).exists() or str(name_or_path).count("/") != 1:
                raise FileNotFoundError(f"no {CONFIG_NAME} at {name_or_path}")
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(str(name_or_path), CONFIG_NAME))
        return cls.from_dict(json.loads(path.read_text()), **overrides)

    def model_card(self, repo_id: str | None = None) -> str:
        """README for a pushed config, from ``model_cards/watermark-config.md`` (never shows the key)."""
        from hf_addons.hub import render_card

        public = self.to_dict(include_key=False)
        public.pop("hashing_key")
        return render_card(
            "watermark-config",
            repo_id=repo_id or "watermark-config",
            config=public,
            config_json=json.dumps(public, indent=2),
        )

    def push_to_hub(
        self, repo_id: str, include_key: bool = False, dry_run: bool = False, **kwargs: Any
    ) -> Any:
        """Upload the config and its card; the key stays local unless ``include_key=True`` is passed.

        ``dry_run=True`` returns ``{path_in_repo: bytes}`` (what would be uploaded) without network.
        """
        from hf_addons.hub import push_to_hub

        return push_to_hub(self, repo_id, dry_run=dry_run, include_key=include_key, **kwargs)

    def staged_files(
        self, directory: str | os.PathLike, repo_id: str | None = None, include_key: bool = False
    ):
        """Write exactly what ``push_to_hub`` uploads (config + card) into ``directory``; returns the paths."""
        cfg = self.save_pretrained(directory, include_key=include_key)
        card = Path(directory) / "README.md"
        card.write_text(self.model_card(repo_id))
        return [cfg, card]
