"""``GCGCallback``: a bounded GCG probe during fine-tuning, logged like any other Trainer metric.

Fine-tuning (LoRA included) is where safety regressions appear; this runs a short attack on a held set of
behaviours at each evaluation (or every N steps) and logs attack success rate, best loss and steps-to-success.
The model being trained is left exactly as found: train/eval mode, parameter ``.grad`` and every RNG state.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from transformers import TrainerCallback

from hf_addons.redteam.config import GCGConfig
from hf_addons.redteam.gcg import GCG, _eval_mode
from hf_addons.redteam.judge import Judge, build_messages, generate_responses, get_judge


def _probe_config() -> GCGConfig:
    return GCGConfig(num_steps=20, search_width=64, topk=64, early_stop=True, seed=0)


class _RNGState:
    """Python, NumPy, torch CPU and CUDA generator states, restored on exit."""

    def __enter__(self):
        self.py = random.getstate()
        self.torch = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        try:
            import numpy as np

            self.np = np.random.get_state()
        except ImportError:  # pragma: no cover
            self.np = None
        return self

    def __exit__(self, *exc: Any) -> None:
        random.setstate(self.py)
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        if self.np is not None:
            import numpy as np

            np.random.set_state(self.np)


class GCGCallback(TrainerCallback):
    """Run a bounded GCG probe on ``behaviors`` ((goal, target) pairs) during ``Trainer`` training.

    ``every_n_steps``: probe every N optimizer steps; ``on_evaluate`` (default True): probe at each evaluation
    and add the numbers to that evaluation's metrics. Metrics are ``{prefix}/attack_success_rate`` (judged on
    greedy generations with the found suffix), ``{prefix}/target_match_rate`` (exact target reached),
    ``{prefix}/best_loss`` and ``{prefix}/steps_to_success`` (mean; unbroken behaviours count as num_steps).
    ``bind(trainer)`` routes them through ``trainer.log`` so TensorBoard/W&B see them; unbound, they go to
    ``state.log_history`` (and the evaluation metrics).
    """

    def __init__(
        self,
        tokenizer: Any,
        behaviors: Sequence[tuple[str, str]],
        config: GCGConfig | None = None,
        every_n_steps: int | None = None,
        on_evaluate: bool = True,
        judge: str | Judge | None = "refusal",
        max_new_tokens: int = 32,
        system: str | None = None,
        prefix: str = "gcg",
        trainer: Any = None,
    ):
        if not behaviors:
            raise ValueError("GCGCallback needs at least one (goal, target) behaviour to probe")
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1 or None, got {every_n_steps!r}")
        self.tokenizer = tokenizer
        self.behaviors = [(str(g), str(t)) for g, t in behaviors]
        self.config = config or _probe_config()
        self.every_n_steps = every_n_steps
        self.probe_on_evaluate = on_evaluate
        self.judge = get_judge(judge)
        self.max_new_tokens = max_new_tokens
        self.system = system
        self.prefix = prefix
        self.trainer = trainer
        self.history: list[dict[str, float]] = []
        self._forbidden: torch.Tensor | None = None

    def bind(self, trainer: Any) -> GCGCallback:
        """Log through ``trainer.log`` (reaches every reporting integration); returns self for chaining."""
        self.trainer = trainer
        return self

    def probe(self, model: Any) -> dict[str, float]:
        """The bounded attack on every behaviour; ``model`` comes back in its previous mode and RNG state."""
        with _RNGState(), _eval_mode(model):
            gcg = GCG(model, self.tokenizer, self.config)
            gcg._forbidden = self._forbidden
            results = [gcg.run(build_messages(g, "{optim_str}", self.system), t) for g, t in self.behaviors]
            self._forbidden = gcg._forbidden
            convs = [
                build_messages(g, r.best_string, self.system) for (g, _), r in zip(self.behaviors, results)
            ]
            responses = generate_responses(model, self.tokenizer, convs, self.max_new_tokens)
        goals = [g for g, _ in self.behaviors]
        ok = self.judge(goals, responses, [t for _, t in self.behaviors])
        n = len(results)
        p = self.prefix
        return {
            f"{p}/attack_success_rate": sum(ok) / n,
            f"{p}/target_match_rate": sum(r.success for r in results) / n,
            f"{p}/best_loss": sum(r.best_loss for r in results) / n,
            f"{p}/steps_to_success": sum(
                r.steps_to_success if r.steps_to_success is not None else self.config.num_steps
                for r in results
            )
            / n,
            f"{p}/probe_seconds": sum(r.seconds for r in results),
        }

    def _record(self, state: Any, metrics: dict[str, float]) -> None:
        self.history.append({**metrics, "step": state.global_step})
        if self.trainer is not None:
            self.trainer.log(dict(metrics))
        else:
            state.log_history.append({**metrics, "epoch": state.epoch, "step": state.global_step})

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any):
        if self.every_n_steps and state.global_step % self.every_n_steps == 0 and model is not None:
            self._record(state, self.probe(model))
        return control

    def on_evaluate(
        self, args: Any, state: Any, control: Any, model: Any = None, metrics: Any = None, **kw: Any
    ):
        if self.probe_on_evaluate and model is not None:
            found = self.probe(model)
            if metrics is not None:
                metrics.update({f"eval_{k}": v for k, v in found.items()})
            self._record(state, found)
        return control
