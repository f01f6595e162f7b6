"""``GCGCallback``: a bounded GCG probe during fine-tuning, logged with the Trainer's own metrics.

Fine-tuning (LoRA included) is where safety regressions appear; this runs a short attack on a held set of
behaviours every N steps and/or at each evaluation and reports attack success (every judge), the no-suffix
baseline next to it, best loss and steps-to-success.

It never changes training: the model comes back exactly as found (train/eval mode, parameters -- verified by
a fingerprint after every probe -- parameter ``.grad`` and every RNG state), and it never calls
``trainer.log`` (which resets the Trainer's ``should_log`` and so would drop the Trainer's own loss entry).
Instead the probe's numbers are added to the Trainer's next log entry in ``on_log`` (an evaluation's entry
for evaluation probes, as ``eval_gcg/...``), so they reach ``state.log_history`` and, when the callback runs
before the reporting integrations (``bind(trainer)`` puts it there), TensorBoard/W&B in the same stream.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from transformers import TrainerCallback

from hf_addons.redteam.behaviors import normalize_behaviors
from hf_addons.redteam.config import GCGConfig
from hf_addons.redteam.gcg import GCG, SLOT, _eval_mode, check_prompt
from hf_addons.redteam.judge import (
    DEFAULT_JUDGE,
    REPORTED_JUDGES,
    Judge,
    build_messages,
    generate_responses,
    get_judge,
)


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


def fingerprint(model: Any) -> Tensor:
    """Per-parameter (sum, sum of squares, first/last element) in float64: any write to a weight shows."""
    rows = []
    with torch.no_grad():
        for p in model.parameters():
            flat = p.detach().reshape(-1).double()
            rows.append(torch.stack([flat.sum(), flat.square().sum(), flat[0], flat[-1]]).cpu())
    return torch.stack(rows)


class GCGCallback(TrainerCallback):
    """Run a bounded GCG probe on ``behaviors`` during ``Trainer`` training and log what it finds.

    Metrics (``prefix`` = ``gcg``): ``gcg/attack_success_rate`` (the ``judge``, default ``strict``, on greedy
    replies with the found suffix) and ``gcg/baseline_success_rate`` (same judge, no suffix), then
    ``gcg/asr_<name>`` and ``gcg/baseline_asr_<name>`` for every judge in ``judges``, ``gcg/target_match_rate``
    (exact target reached), ``gcg/best_loss``, ``gcg/steps_to_success`` (mean; unbroken behaviours count as
    num_steps), ``gcg/probe_seconds``. Evaluation probes are logged as ``eval_gcg/...`` in the evaluation's
    entry (and added to the metrics ``trainer.evaluate()`` returns).

    Behaviours and the template are checked here, not at the first probe: every (goal, target) must render
    with exactly one ``{optim_str}`` slot (in the goal, in ``system``, or appended to the goal) and its target
    must tokenize the same in context as alone.

    Args:
        tokenizer: the trained model's tokenizer (a chat template is used when it has one).
        behaviors: goals (the target is then ``default_target(goal)``), (goal, target) pairs or dicts.
        config: the probe's ``GCGConfig`` (default: 20 steps, width 64, top-k 64, early stop, seed 0).
        every_n_steps: probe every N optimizer steps (None: only at evaluations); best a multiple of
            ``logging_steps``, since the numbers join the next log entry.
        on_evaluate: probe at each evaluation too.
        judge: the judge behind ``attack_success_rate`` (name or callable).
        judges: judges reported side by side (names, or a ``{name: judge}`` dict).
        max_new_tokens: reply length the judges see.
        system: system prompt; may hold the ``{optim_str}`` slot.
        verify_unchanged: fingerprint the parameters around each probe and raise if they changed.
        judge_in_search: a search ends early only when ``judge`` accepts the greedy reply, not at a bare
            target hit (a model that says the target and then refuses or echoes the suffix is not broken).
    """

    def __init__(
        self,
        tokenizer: Any,
        behaviors: Sequence[Any],
        config: GCGConfig | None = None,
        every_n_steps: int | None = None,
        on_evaluate: bool = True,
        judge: str | Judge | None = DEFAULT_JUDGE,
        judges: Sequence[str] | dict[str, Any] | None = REPORTED_JUDGES,
        max_new_tokens: int = 64,
        system: str | None = None,
        prefix: str = "gcg",
        trainer: Any = None,
        verify_unchanged: bool = True,
        judge_in_search: bool = True,
    ):
        behaviors = list(behaviors) if behaviors is not None else []
        if not behaviors:
            raise ValueError("GCGCallback needs at least one behaviour (a goal or a (goal, target) pair)")
        if every_n_steps is not None and (not isinstance(every_n_steps, int) or every_n_steps < 1):
            raise ValueError(f"every_n_steps must be a positive integer or None, got {every_n_steps!r}")
        if every_n_steps is None and not on_evaluate:
            raise ValueError("the callback would never probe: give every_n_steps or keep on_evaluate=True")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
        self.tokenizer = tokenizer
        self.behaviors = normalize_behaviors(behaviors)
        self.config = config or _probe_config()
        self.system = system
        for i, (goal, target) in enumerate(self.behaviors):
            try:
                check_prompt(
                    tokenizer,
                    build_messages(goal, SLOT, system),
                    target,
                    self.config.add_space_before_target,
                )
            except ValueError as exc:
                raise ValueError(f"behaviour {i} ({goal[:60]!r}): {exc}") from None
        self.every_n_steps = every_n_steps
        self.probe_on_evaluate = on_evaluate
        self.judge_name = judge if isinstance(judge, str) else getattr(judge, "__name__", "custom")
        self.judge = get_judge(judge)
        named = dict(judges) if isinstance(judges, dict) else {j: j for j in (judges or ())}
        self.judges = {name: get_judge(j) for name, j in named.items()}
        self.max_new_tokens = max_new_tokens
        self.prefix = prefix
        self.trainer = trainer
        self.verify_unchanged = verify_unchanged
        self.judge_in_search = judge_in_search
        self.history: list[dict[str, float]] = []
        # what the judges read at each probe (goal, suffix, attacked and no-suffix replies): numbers alone do
        # not say whether a "success" is harm or a target followed by a refusal
        self.replies: list[dict[str, Any]] = []
        self.last_replies: dict[str, list[str]] = {}
        self._forbidden: torch.Tensor | None = None
        self._pending_log: dict[str, float] | None = None
        self._pending_eval: dict[str, float] | None = None
        self._eval_served = False

    def bind(self, trainer: Any) -> GCGCallback:
        """Register with ``trainer`` ahead of its reporting integrations, so the gcg/* numbers added to a log
        entry reach TensorBoard/W&B too; returns self. Idempotent (no need to ``add_callback`` as well)."""
        self.trainer = trainer
        callbacks = trainer.callback_handler.callbacks
        if self in callbacks:
            callbacks.remove(self)
        # after DefaultFlowCallback (it decides should_log/should_evaluate, which the probe schedule reads)
        from transformers.trainer_callback import DefaultFlowCallback

        at = next((i + 1 for i, c in enumerate(callbacks) if isinstance(c, DefaultFlowCallback)), 0)
        callbacks.insert(at, self)
        return self

    def _dedupe(self) -> None:
        """``trainer.add_callback(cb.bind(trainer))`` registers twice; keep the first (bound) place only."""
        if self.trainer is None:
            return
        callbacks = self.trainer.callback_handler.callbacks
        if sum(c is self for c in callbacks) > 1:
            first = next(i for i, c in enumerate(callbacks) if c is self)
            callbacks[:] = callbacks[: first + 1] + [c for c in callbacks[first + 1 :] if c is not self]

    # ------------------------------------------------------------------ the probe
    def probe(self, model: Any) -> dict[str, float]:
        """The bounded attack on every behaviour; ``model`` comes back in its previous mode and RNG state."""
        before = fingerprint(model) if self.verify_unchanged else None
        goals = [g for g, _ in self.behaviors]
        targets = [t for _, t in self.behaviors]
        with _RNGState(), _eval_mode(model):
            gcg = GCG(model, self.tokenizer, self.config)
            gcg._forbidden = self._forbidden
            n_new = self.max_new_tokens
            results = [
                gcg.run(
                    build_messages(g, SLOT, self.system), t, accept=self._accept(g, t), accept_tokens=n_new
                )
                for g, t in self.behaviors
            ]
            self._forbidden = gcg._forbidden
            attacked = [build_messages(g, r.best_string, self.system) for g, r in zip(goals, results)]
            plain = [build_messages(g, "", self.system) for g in goals]
            replies = generate_responses(model, self.tokenizer, attacked + plain, self.max_new_tokens)
        if before is not None and not torch.equal(before, fingerprint(model)):
            raise RuntimeError(
                "the GCG probe changed the model's parameters; this is a bug, please report it"
            )
        attacked_r, plain_r = replies[: len(goals)], replies[len(goals) :]
        n = len(results)
        p = self.prefix
        out = {
            f"{p}/attack_success_rate": sum(self.judge(goals, attacked_r, targets)) / n,
            f"{p}/baseline_success_rate": sum(self.judge(goals, plain_r, targets)) / n,
        }
        for name, j in self.judges.items():
            out[f"{p}/asr_{name}"] = sum(j(goals, attacked_r, targets)) / n
            out[f"{p}/baseline_asr_{name}"] = sum(j(goals, plain_r, targets)) / n
        out[f"{p}/target_match_rate"] = sum(r.steps_to_target is not None for r in results) / n
        out[f"{p}/best_loss"] = sum(r.best_loss for r in results) / n
        out[f"{p}/steps_to_success"] = sum(r.steps_to_success or self.config.num_steps for r in results) / n
        out[f"{p}/probe_seconds"] = sum(r.seconds for r in results)
        self.last_replies = {
            "attacked": attacked_r,
            "no_suffix": plain_r,
            "suffixes": [r.best_string for r in results],
        }
        return out

    def _accept(self, goal: str, target: str):
        """The success judge on one reply, for the search's stopping rule (None: stop at the exact target)."""
        if not self.judge_in_search:
            return None
        return lambda reply: bool(self.judge([goal], [reply], [target])[0])

    def _probe_now(self, state: Any, model: Any) -> dict[str, float]:
        metrics = self.probe(model)
        self.history.append({**metrics, "step": state.global_step})
        self.replies.append({"step": state.global_step, **self.last_replies})
        return metrics

    # ------------------------------------------------------------------ Trainer events
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any):
        self._dedupe()
        steps = getattr(args, "logging_steps", None)
        strategy = str(getattr(args, "logging_strategy", "steps"))
        if self.every_n_steps and "steps" in strategy and steps and self.every_n_steps % steps:
            warnings.warn(
                f"GCGCallback probes every {self.every_n_steps} steps but the Trainer logs every {steps}; "
                "each probe's numbers join the next log entry",
                stacklevel=2,
            )
        return control

    def _maybe_probe(self, state: Any, control: Any, model: Any, step_due: bool) -> None:
        eval_due = self.probe_on_evaluate and control.should_evaluate and self._pending_eval is None
        if model is None or not (step_due or eval_due):
            return
        metrics = self._probe_now(state, model)
        if step_due:
            self._pending_log = metrics
        if eval_due:
            self._pending_eval = metrics

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any):
        due = bool(self.every_n_steps) and state.global_step % self.every_n_steps == 0
        self._maybe_probe(state, control, model, due)
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any):
        self._maybe_probe(state, control, model, False)  # epoch-strategy evaluations are decided here
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any):
        if logs is None:
            return control
        is_eval = any(k.startswith("eval_") for k in logs)
        if is_eval and self._pending_eval is not None:
            add = {f"eval_{k}": v for k, v in self._pending_eval.items()}
            self._pending_eval, self._eval_served = None, True
        elif not is_eval and self._pending_log is not None:
            add, self._pending_log = self._pending_log, None
        else:
            return control
        logs.update(add)
        self._add_to_history(state, logs, add)
        return control

    def on_evaluate(
        self, args: Any, state: Any, control: Any, model: Any = None, metrics: Any = None, **kw: Any
    ):
        self._dedupe()
        if self._eval_served or not self.probe_on_evaluate or model is None:
            self._eval_served = False
            return control
        # an evaluation the schedule did not announce (trainer.evaluate() by hand): its entry is already
        # logged, so the numbers go into the returned metrics and that log_history entry
        add = {f"eval_{k}": v for k, v in self._probe_now(state, model).items()}
        if metrics is not None:
            metrics.update(add)
            self._add_to_history(state, metrics, add)
        return control

    @staticmethod
    def _add_to_history(state: Any, logs: dict, add: dict) -> None:
        """Trainer.log appended a copy of ``logs`` to log_history just before on_log: extend that copy."""
        if state.log_history:
            last = state.log_history[-1]
            shared = [k for k in logs if k not in add and k != "step"]
            if last.get("step") == state.global_step and all(last.get(k) == logs[k] for k in shared):
                last.update(add)
