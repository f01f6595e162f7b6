"""Pre-training data suite: every step is a batched function for ``dataset.map(step, batched=True)``.

See ``hf_addons.data.base`` for the step conventions. Public names resolve lazily. The modules are grouped
by kind, as datatrove's pipeline folders: ``readers/``, ``extract/``, ``filters/``, ``dedup/``,
``privacy/``, ``scoring/``, ``mixture/`` and ``executors/``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Any

# public name -> submodule of hf_addons.data (each part of the suite adds its own)
_LAZY: dict[str, str] = {
    "Step": "base",
    "FilterStep": "base",
    "TextFilter": "base",
    "register_step": "base",
    "registered_steps": "base",
    "decode_cell": "base",
    "arrow_column": "base",
    "Pipeline": "executors.pipeline",
    "build_mixture": "mixture.mixture",
    "PerplexityScorer": "scoring.perplexity",
    "PerplexityFilter": "scoring.perplexity",
    "perplexity_cutoffs": "scoring.perplexity",
    "EduJudge": "scoring.edu",
    "EduClassifier": "scoring.edu_model",
    "EduClassifierConfig": "scoring.edu_model",
    "EduScorer": "scoring.edu",
    "Embedder": "scoring.edu",
    "train_edu_classifier": "scoring.edu",
    "Mixture": "mixture.mixture",
    "temperature_shares": "mixture.mixture",
    "search_mixture": "mixture.search",
    "ProxyConfig": "mixture.proxy",
    "doremi_weights": "mixture.doremi",
    "check_at_scale": "mixture.scale_check",
    "SecretFilter": "privacy.secrets",
    "SecretScanner": "privacy.secrets",
    "LicenseClassifier": "privacy.licenses",
    "classify_license": "privacy.licenses",
    "classify_repository": "privacy.licenses",
    "PIIAnonymizer": "privacy.pii",
    "HtmlToMarkdown": "extract.html",
    "markdown_to_text": "extract.html",
    "read_warc": "readers.warc",
    "warc_dataset": "readers.warc",
    "write_warc": "readers.warc",
    "GopherQualityFilter": "filters.quality",
    "GopherRepetitionFilter": "filters.quality",
    "C4Filter": "filters.quality",
    "FineWebFilter": "filters.quality",
    "LanguageFilter": "filters.langid",
    "ExactDeduplicator": "dedup.minhash",
    "MinHashDeduplicator": "dedup.minhash",
    "MinHashConfig": "dedup.minhash",
    "MinHashParams": "dedup.minhash",  # deprecated name of MinHashConfig
    "MinHashSignatures": "dedup.minhash",
    "ExactHash": "dedup.minhash",
    "minhash_signatures": "dedup.minhash",
    "near_dedup": "dedup.minhash",
    "cluster_minhash": "dedup.minhash",
    "cluster_exact": "dedup.minhash",
    "dedup_dataset": "dedup.minhash",
    "load_input": "readers.files",
    "run_ray": "executors.ray",
}


# modules of the flat layout (before the folders by kind) -> where they live now; importing an old path
# still works for one release and warns (the module object is the new one, so patches apply to both)
_MOVED: dict[str, str] = {
    "warc": "readers.warc",
    "quality": "filters.quality",
    "langid": "filters.langid",
    "secrets": "privacy.secrets",
    "pii": "privacy.pii",
    "licenses": "privacy.licenses",
    "perplexity": "scoring.perplexity",
    "edu": "scoring.edu",
    "pipeline": "executors.pipeline",
    "ray_backend": "executors.ray",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``hf_addons.data.<old>[.sub]`` to the module's new home (a DeprecationWarning each time)."""

    prefix = __name__ + "."

    def _target(self, fullname: str) -> str | None:
        if not fullname.startswith(self.prefix):
            return None
        old, _, rest = fullname[len(self.prefix) :].partition(".")
        new = _MOVED.get(old)
        if new is None:
            return None
        return f"{self.prefix}{new}" + (f".{rest}" if rest else "")

    def find_spec(self, fullname, path=None, target=None):
        if self._target(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        new = self._target(module.__name__)
        warnings.warn(
            f"{module.__name__} moved to {new}; the old path will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        # the import system returns whatever sys.modules holds under the name after exec_module
        sys.modules[module.__name__] = importlib.import_module(new)


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())  # before PathFinder, which would load a second copy


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_addons.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hf_addons.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted(_LAZY)
