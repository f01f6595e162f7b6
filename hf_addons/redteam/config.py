"""Settings and results of a GCG attack (Zou et al. 2023), nanoGCG-compatible names where they exist."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_INIT = "x x x x x x x x x x x x x x x x x x x x"


@dataclass
class GCGConfig:
    """How a GCG search runs.

    ``search_width`` candidates are sampled per step from the ``topk`` best one-hot-gradient replacements,
    ``n_replace`` positions each; their loss is computed in chunks of ``batch_size`` (``None``: sized to the
    free memory). ``early_stop`` ends the search once the model's greedy continuation equals the target.
    ``probe_sampling`` uses ``draft_model`` (same tokenizer) to rank all candidates and the target model only
    on a probe set plus the draft's best (Zhao et al. 2024). ``warm_start`` k > 0: a ``GCG`` object offers the best suffixes of its last k attacks (the winning
    one where an attack won) as extra starting points, and the one with the lowest loss on the new prompt starts
    the search (after I-GCG's easy-to-hard initialisation, Jia et al. 2024): suffixes transfer between
    behaviours on one model, so later attacks start part of the way there.
    """

    num_steps: int = 250
    optim_str_init: str | list[str] = DEFAULT_INIT
    search_width: int = 512
    topk: int = 256
    n_replace: int = 1
    batch_size: int | None = None
    buffer_size: int = 0
    use_mellowmax: bool = False
    mellowmax_alpha: float = 1.0
    early_stop: bool = False
    use_prefix_cache: bool = True
    allow_non_ascii: bool = False
    allow_special_tokens: bool = False
    filter_ids: bool = True
    add_space_before_target: bool = False
    seed: int | None = None
    # probe sampling (Zhao et al. 2024): draft-model ranking, target model on a subset only
    probe_sampling: bool = False
    probe_sampling_factor: int = 16
    probe_r: int = 8
    # memory the candidate-loss chunks may use (bytes); None: half the free GPU memory, or 1 GiB on CPU
    memory_budget: int | None = None
    warm_start: int = 0

    def __post_init__(self) -> None:
        for name in ("num_steps", "search_width", "topk", "n_replace"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GCGConfig.{name} must be a positive integer, got {value!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"GCGConfig.batch_size must be >= 1 or None, got {self.batch_size!r}")
        if not isinstance(self.warm_start, int) or self.warm_start < 0:
            raise ValueError(f"GCGConfig.warm_start must be an integer >= 0, got {self.warm_start!r}")
        if self.buffer_size < 0:
            raise ValueError(f"GCGConfig.buffer_size must be >= 0, got {self.buffer_size!r}")
        if self.mellowmax_alpha <= 0:
            raise ValueError(f"GCGConfig.mellowmax_alpha must be > 0, got {self.mellowmax_alpha!r}")
        if self.probe_sampling_factor < 1 or self.probe_r < 1:
            raise ValueError("GCGConfig.probe_sampling_factor and probe_r must be >= 1")
        if isinstance(self.optim_str_init, list) and not self.optim_str_init:
            raise ValueError("GCGConfig.optim_str_init is an empty list; give a string or a list of strings")
        if isinstance(self.optim_str_init, str) and not self.optim_str_init.strip():
            raise ValueError("GCGConfig.optim_str_init is empty; the suffix needs at least one token")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GCGStep:
    """One finished step, as yielded by ``GCG.steps`` and passed to ``on_step`` (for live plots)."""

    step: int  # 1-based
    loss: float  # best candidate loss this step
    suffix: str  # current best suffix (buffer head)
    best_loss: float  # lowest loss so far
    best_suffix: str
    success: bool  # the greedy continuation matches the target exactly (all active prompts)
    n_candidates: int  # candidates evaluated after filtering
    seconds: float  # wall time of this step
    n_active: int = 1  # prompts optimised jointly (universal mode's progressive schedule)
    target_hit: bool = False  # the exact-target check passed (``success`` may also need the ``accept`` judge)


@dataclass
class GCGResult:
    """Outcome of a search: best suffix and loss, the per-step curves, and when the target was first hit."""

    best_loss: float
    best_string: str
    losses: list[float]
    strings: list[str]
    success: bool = False  # exact target match reached (teacher-forced greedy check) and ``accept`` agreed
    steps_to_success: int | None = None
    steps_to_target: int | None = None  # first exact target match, judged or not
    seconds: float = 0.0
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
