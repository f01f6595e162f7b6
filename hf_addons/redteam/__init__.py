"""Red-teaming: GCG adversarial suffixes (Zou et al. 2023) as an API, a universal mode, a Trainer callback,
judges that report side by side with the no-suffix baseline, and a refusing testbed model built by safety tuning.
"""

from __future__ import annotations

from hf_addons.redteam.behaviors import default_target, load_behaviors, normalize_behaviors, split_behaviors
from hf_addons.redteam.callback import GCGCallback
from hf_addons.redteam.config import GCGConfig, GCGResult, GCGStep
from hf_addons.redteam.gcg import GCG, check_prompt
from hf_addons.redteam.judge import (
    REFUSAL_PREFIXES,
    ClassifierJudge,
    LLMJudge,
    StrictJudge,
    combined_judge,
    generate_responses,
    is_degenerate,
    is_refusal,
    judge_all,
    refusal_judge,
    refuses_within,
    strict_judge,
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
    "LLMJudge",
    "StrictJudge",
    "check_prompt",
    "combined_judge",
    "default_target",
    "evaluate_suffix",
    "generate_responses",
    "is_degenerate",
    "is_refusal",
    "judge_all",
    "load_behaviors",
    "normalize_behaviors",
    "refusal_judge",
    "refuses_within",
    "run_universal",
    "split_behaviors",
    "strict_judge",
    "target_judge",
    "universal_steps",
]
