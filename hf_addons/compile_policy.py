"""When to pay for a ``torch.compile``: the rent-or-buy rule shared by the fused CPU paths.

A compiled path costs seconds once (the "buy") and then saves a little on every call; the eager path costs
nothing up front (the "rent"). Not knowing how long a job will run, the rule is to stay eager until the eager
calls the compiled path would have taken have cost as much as one compile, then compile: the total is never
more than twice the better of the two choices made in hindsight, and a short job never waits for a compile it
cannot win back. Users: the watermark processor's fused kernel (``fused="auto"``) and the perplexity scorer's
fused decoder (``fused="auto"``); each keeps its own meter (process-wide, or per scorer) and threshold.

Examples:

```python
>>> meter = RentOrBuy(buy_after_s=10.0)
>>> meter.due()
False
>>> with meter.renting():  # an eager call the compiled path would have taken
...     pass
>>> meter.waiting_message("the fused path")
'eager for now (the fused path is built after 10 s of eager calls, 0.0 s so far)'
```
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RentOrBuy", "buy_now"]


def buy_now(spent_s: float | None, buy_after_s: float) -> bool:
    """The rent-or-buy rule: compile once the eager ("rented") calls have cost ``buy_after_s`` seconds.

    Args:
        spent_s: seconds spent so far in eager calls the compiled path would have taken (``None``: none yet,
            as after unpickling in a worker process).
        buy_after_s: the price of buying, about one warm compile of the path in question.

    Examples:

    ```python
    >>> buy_now(4.0, 5.0), buy_now(5.0, 5.0)
    (False, True)
    ```
    """
    return (spent_s or 0.0) >= buy_after_s


class RentOrBuy:
    """A meter of eager time for one compiled path, and its rent-or-buy decision (:func:`buy_now`).

    Args:
        buy_after_s: seconds of eager calls after which to compile (about one warm compile).

    Examples:

    ```python
    >>> meter = RentOrBuy(buy_after_s=0.0)
    >>> meter.due()
    True
    ```
    """

    def __init__(self, buy_after_s: float) -> None:
        if buy_after_s < 0:
            raise ValueError(f"buy_after_s must be >= 0, got {buy_after_s}")
        self.buy_after_s = buy_after_s
        self.spent_s = 0.0

    def due(self) -> bool:
        """Whether the eager calls have cost enough to compile now."""
        return buy_now(self.spent_s, self.buy_after_s)

    def charge(self, seconds: float) -> None:
        """Add the time of one eager call the compiled path would have taken."""
        self.spent_s = (self.spent_s or 0.0) + seconds

    @contextmanager
    def renting(self) -> Iterator[None]:
        """Time the block as an eager call the compiled path would have taken."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.charge(time.perf_counter() - started)

    def waiting_message(self, what: str) -> str:
        """Why ``what`` is not compiled yet, with the time spent so far."""
        return (
            f"eager for now ({what} is built after {self.buy_after_s:g} s of eager calls, "
            f"{self.spent_s or 0.0:.1f} s so far)"
        )

    def __repr__(self) -> str:
        return f"RentOrBuy(buy_after_s={self.buy_after_s!r}, spent_s={self.spent_s:.3f})"
