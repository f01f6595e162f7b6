"""Conventions shared by every data step.

A step is a picklable callable ``step(batch) -> batch`` over a batch of columns (``dict[str, list]``), so it
runs unchanged as ``dataset.map(step, batched=True, num_proc=N)`` and as Ray Data's ``map_batches``
(which passes the same dict-of-columns shape with ``batch_format="numpy"`` / ``"pandas"`` converted to lists).

- A step never drops rows by itself: ``dataset.map`` with ``num_proc`` and Ray both need row counts to stay
  predictable, and the user must be able to see what a filter would remove. Filters add two columns,
  ``<name>_keep`` (bool) and ``<name>_reason`` (``""`` when kept, else a short machine-readable reason such as
  ``"gopher:mean_word_length"``); ``Pipeline`` (or ``dataset.filter``) applies them and counts the reasons.
- A step that fails on a row (undecodable bytes, a giant page) keeps the row and records ``<name>_error``
  instead of raising, so one bad document never stops a run.
- Steps hold only their configuration (plain values) and load models lazily on first call, so they pickle
  cheaply into worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Batch = dict[str, list[Any]]


def batch_size(batch: Batch) -> int:
    """Number of rows in a dict-of-columns batch (0 for an empty dict)."""
    for column in batch.values():
        return len(column)
    return 0


def require_columns(batch: Batch, columns: Sequence[str], step: str) -> None:
    """Raise a clear error naming the missing columns and the ones present."""
    missing = [c for c in columns if c not in batch]
    if missing:
        raise KeyError(f"{step}: missing column(s) {missing}; the batch has {sorted(batch)}")


class Step:
    """Base class of a batched data step: subclasses implement ``process`` and set ``name``."""

    name: str = "step"

    def __call__(self, batch: Batch) -> Batch:
        out = dict(batch)
        out.update(self.process(batch))
        return out

    def process(self, batch: Batch) -> Batch:  # pragma: no cover - abstract
        """Return the new columns (each a list as long as the batch)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class FilterStep(Step):
    """A step that decides keep/reject per row: ``process`` returns ``<name>_keep`` and ``<name>_reason``."""

    @property
    def keep_column(self) -> str:
        return f"{self.name}_keep"

    @property
    def reason_column(self) -> str:
        return f"{self.name}_reason"

    def decisions(self, reasons: list[str]) -> Batch:
        """Build the two decision columns from a per-row reason list (``""`` means keep)."""
        return {self.keep_column: [not r for r in reasons], self.reason_column: reasons}
