"""Universal GCG: one suffix for several (behaviour, target) pairs, and its transfer to a second model.

The progressive schedule of Zou et al. (2023, Alg. 2): optimise on the first pair; each time the suffix makes
the model produce every current target, add the next pair. The loss is the sum over the active pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hf_addons.redteam.config import GCGResult, GCGStep
from hf_addons.redteam.gcg import GCG, _eval_mode
from hf_addons.redteam.judge import Judge, build_messages, generate_responses, get_judge


def universal_steps(
    gcg: GCG, behaviors: Sequence[tuple[str, str]], progressive: bool = True, system: str | None = None
) -> Iterator[GCGStep]:
    """Yield a ``GCGStep`` per step of a universal search; ``gcg.result`` holds the result at the end."""
    if not behaviors:
        raise ValueError("universal GCG needs at least one (goal, target) behaviour; the list is empty")
    with _eval_mode(gcg.model, gcg.draft_model):
        prompts = [
            gcg.prepare(build_messages(goal, "{optim_str}", system), target) for goal, target in behaviors
        ]
        yield from gcg._search(prompts, progressive=progressive)


def run_universal(
    gcg: GCG,
    behaviors: Sequence[tuple[str, str]],
    progressive: bool = True,
    system: str | None = None,
    on_step: Callable[[GCGStep], bool | None] | None = None,
) -> GCGResult:
    """One suffix for all ``behaviors``; ``result.extra['n_active']`` says how many the schedule reached."""
    return gcg._drive(universal_steps(gcg, behaviors, progressive, system), on_step)


def evaluate_suffix(
    model: Any,
    tokenizer: Any,
    suffix: str,
    behaviors: Sequence[tuple[str, str]],
    judge: str | Judge | None = None,
    max_new_tokens: int = 64,
    system: str | None = None,
) -> dict[str, Any]:
    """Attack success rate of ``suffix`` on ``behaviors`` with ``model`` (for transfer: a model it was not
    optimised on), judged on greedy generations."""
    if not behaviors:
        raise ValueError("no behaviours to evaluate the suffix on")
    judge_fn = get_judge(judge)
    goals = [g for g, _ in behaviors]
    targets = [t for _, t in behaviors]
    with _eval_mode(model):
        responses = generate_responses(
            model, tokenizer, [build_messages(g, suffix, system) for g in goals], max_new_tokens
        )
    ok = judge_fn(goals, responses, targets)
    return {"asr": sum(ok) / len(ok), "success": ok, "responses": responses}
