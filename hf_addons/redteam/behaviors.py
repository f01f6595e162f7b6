"""Behaviours to attack: (goal, target) pairs from a CSV, a list of goals or pairs, and a seeded hold-out split.

A behaviour given as a goal alone gets the AdvBench-style target ``default_target(goal)``, so a list of plain
requests can be attacked or probed without writing targets by hand.
"""

from __future__ import annotations

import csv
import random
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# imperative verbs that AdvBench goals start with; "Write a script that ..." -> "Sure, here is a script that ..."
_VERBS = {
    "write", "create", "develop", "design", "give", "provide", "generate", "produce", "draft", "compose",
    "outline", "make", "build", "publish", "post", "suggest", "offer", "share", "prepare",
}  # fmt: skip
_ARTICLES = ("a ", "an ", "the ", "step-by-step ", "detailed ", "instructions ", "guidance ", "advice ")


def default_target(goal: str) -> str:
    """The target a GCG attack optimises towards when only the goal is known, in AdvBench's style."""
    goal = goal.strip().rstrip(".?!")
    if not goal:
        raise ValueError("a behaviour's goal is empty")
    words = goal.split(" ", 1)
    if len(words) == 2 and words[0].lower() in _VERBS and words[1].lower().startswith(_ARTICLES):
        rest = words[1]
        return f"Sure, here is {rest[0].lower()}{rest[1:]}"
    return f"Sure, here is how to {goal[0].lower()}{goal[1:]}"


def normalize_behaviors(behaviors: Iterable[Any]) -> list[tuple[str, str]]:
    """(goal, target) pairs from goals (str), pairs/lists, or dicts with ``goal`` (and optional ``target``).

    Raises naming the offending item for anything else, an empty goal, or an empty given target.
    """
    if isinstance(behaviors, (str, bytes)):
        raise TypeError("behaviours must be a list of goals or (goal, target) pairs, not a single string")
    out = []
    for i, b in enumerate(behaviors):
        if isinstance(b, str):
            goal, target = b, None
        elif isinstance(b, dict):
            if "goal" not in b:
                raise ValueError(f"behaviour {i}: a dict needs a 'goal' key, got keys {sorted(b)}")
            goal, target = b["goal"], b.get("target")
        elif isinstance(b, Sequence) and len(b) in (1, 2):
            goal, target = b[0], (b[1] if len(b) == 2 else None)
        else:
            raise ValueError(f"behaviour {i}: expected a goal string or a (goal, target) pair, got {b!r}")
        if not isinstance(goal, str) or not goal.strip():
            raise ValueError(f"behaviour {i}: the goal is empty or not a string ({goal!r})")
        if target is None:
            target = default_target(goal)
        elif not isinstance(target, str) or not target.strip():
            raise ValueError(
                f"behaviour {i} ({goal[:60]!r}): the target is empty; give the continuation the attack "
                "should force, or pass the goal alone to use default_target(goal)"
            )
        out.append((goal, target))
    return out


def load_behaviors(path: str | Path, limit: int | None = None, offset: int = 0) -> list[tuple[str, str]]:
    """(goal, target) pairs from an AdvBench-style CSV with a ``goal`` column and, usually, ``target``.

    Without a ``target`` column (or with empty targets) each goal gets ``default_target(goal)`` and a warning
    says how many.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"behaviours file not found: {path}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        if "goal" not in columns:
            raise ValueError(
                f"{path}: the CSV needs a 'goal' column (and usually 'target'); found columns {sorted(columns)}"
            )
        rows = [(r["goal"], (r.get("target") or "").strip()) for r in reader if (r.get("goal") or "").strip()]
    rows = rows[offset : offset + limit if limit is not None else None]
    if not rows:
        raise ValueError(f"{path}: no behaviours to attack (empty file, or offset/limit select none)")
    missing = sum(not t for _, t in rows)
    if missing:
        why = "has no 'target' column" if "target" not in columns else f"has {missing} empty targets"
        warnings.warn(f"{path} {why}; using default_target(goal) for those", stacklevel=2)
    return [(g, t or default_target(g)) for g, t in rows]


def split_behaviors(
    behaviors: Sequence[tuple[str, str]], holdout: float = 0.25, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held_out): a seeded random ``holdout`` fraction kept apart, each part in the input order."""
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction in (0, 1), got {holdout!r}")
    idx = list(range(len(behaviors)))
    random.Random(seed).shuffle(idx)
    held = set(idx[: max(1, round(holdout * len(behaviors)))])
    return (
        [b for i, b in enumerate(behaviors) if i not in held],
        [b for i, b in enumerate(behaviors) if i in held],
    )
