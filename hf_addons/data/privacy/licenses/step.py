"""The licence step: SPDX id, category and method per row, from :func:`.matcher.classify`."""

from __future__ import annotations

from hf_addons.data.base import Batch, Step, decode_cell, register_step, require_columns
from hf_addons.data.privacy.licenses.matcher import check_options, classify


@register_step("license", extra="privacy")
class LicenseClassifier(Step):
    """Batched step: adds ``license_spdx``, ``license_category``, ``license_method`` and ``license_error``.

    Args:
        text_column: the column of file contents (str or bytes).
        min_coverage: deprecated, has no effect.
        max_chars: only the first ``max_chars`` of a file are read.
        approximate: must be True (the removed 3-gram matcher was ``approximate=False``).
        exhaustive: all of ScanCode's approximate alignments; False is faster (see :func:`.matcher.classify`).

    Examples:

    ```python
    >>> LicenseClassifier()({"content": ["# SPDX-License-Identifier: MIT\\n"]})["license_spdx"]
    ['MIT']
    ```
    """

    name = "license"

    def __init__(
        self,
        text_column: str = "content",
        min_coverage: float | None = None,
        max_chars: int = 200_000,
        approximate: bool = True,
        exhaustive: bool = True,
    ):
        check_options(min_coverage, approximate)
        self.text_column = text_column
        self.min_coverage = min_coverage
        self.max_chars = max_chars
        self.approximate = approximate
        self.exhaustive = exhaustive

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        out: Batch = {f"{self.name}_{k}": [] for k in ("spdx", "category", "method", "error")}
        for value in batch[self.text_column]:
            text, err = decode_cell(value, 1 << 62)  # classify() itself reads only the first max_chars
            r = (
                classify(text, max_chars=self.max_chars, exhaustive=self.exhaustive)
                if text is not None
                else {"spdx": None, "category": "unknown", "method": "none"}
            )
            for k in ("spdx", "category", "method"):
                out[f"{self.name}_{k}"].append(r[k])
            out[f"{self.name}_error"].append(err)
        return out
