"""Red-teaming: GCG adversarial suffixes (Zou et al. 2023) as an API, a universal mode and a Trainer callback."""

from __future__ import annotations

from hf_addons.redteam.callback import GCGCallback
from hf_addons.redteam.config import GCGConfig, GCGResult, GCGStep
from hf_addons.redteam.gcg import GCG
from hf_addons.redteam.judge import (
    REFUSAL_PREFIXES,
    ClassifierJudge,
    combined_judge,
    generate_responses,
    is_refusal,
    load_behaviors,
    refusal_judge,
    target_judge,
)
from hf_addons.redteam.universal import evaluate_suffix, run_universal, universal_steps

__all__ = [
    "GCG",
    "GCGCallback",
    "GCGConfig",
    "GCGResult",
    "GCGStep",
    "REFUSAL_PREFIXES",
    "ClassifierJudge",
    "combined_judge",
    "evaluate_suffix",
    "generate_responses",
    "is_refusal",
    "load_behaviors",
    "refusal_judge",
    "run_universal",
    "target_judge",
    "universal_steps",
]
