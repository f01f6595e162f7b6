"""Pre-training data suite: every step is a batched function for ``dataset.map(step, batched=True)``.

See ``hf_addons.data.base`` for the step conventions. Public names resolve lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule of hf_addons.data (each part of the suite adds its own)
_LAZY: dict[str, str] = {
    "Step": "base",
    "FilterStep": "base",
    "Pipeline": "pipeline",
    "build_mixture": "mixture",
    "PerplexityScorer": "perplexity",
    "PerplexityFilter": "perplexity",
    "perplexity_cutoffs": "perplexity",
    "EduJudge": "edu",
    "EduClassifier": "edu",
    "EduClassifierConfig": "edu",
    "EduScorer": "edu",
    "Embedder": "edu",
    "train_edu_classifier": "edu",
    "Mixture": "mixture",
    "temperature_shares": "mixture",
    "SecretFilter": "secrets",
    "SecretScanner": "secrets",
    "LicenseClassifier": "licenses",
    "classify_license": "licenses",
    "classify_repository": "licenses",
    "PIIAnonymizer": "pii",
    "HtmlToMarkdown": "extract",
    "markdown_to_text": "extract",
    "read_warc": "warc",
    "warc_dataset": "warc",
    "write_warc": "warc",
    "GopherQualityFilter": "quality",
    "GopherRepetitionFilter": "quality",
    "C4Filter": "quality",
    "FineWebFilter": "quality",
    "LanguageFilter": "langid",
    "ExactDeduplicator": "dedup",
    "MinHashDeduplicator": "dedup",
    "MinHashParams": "dedup",
    "MinHashSignatures": "dedup",
    "ExactHash": "dedup",
    "minhash_signatures": "dedup",
    "near_dedup": "dedup",
    "cluster_minhash": "dedup",
    "cluster_exact": "dedup",
    "dedup_dataset": "dedup",
    "load_input": "pipeline",
    "run_ray": "ray_backend",
    "to_table": "ray_backend",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_addons.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hf_addons.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted(_LAZY)
