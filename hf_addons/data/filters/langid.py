"""Language identification with lingua (offline models shipped in the wheel): language and score columns.

lingua's high-accuracy models for all 75 languages take about a minute to load, so the default is its
low-accuracy (trigram) mode, which loads in ~2 s, reading the first 500 characters. Scoring every text
against all 75 languages costs ~5 ms per text; restricting ``candidates`` to the languages a crawl can
hold (e.g. 12) is ~7x faster. ``low_accuracy=False`` gives better scores on short texts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hf_addons.data.base import Batch, FilterStep, register_step, require_columns

_DETECTORS: dict[tuple, Any] = {}


def _detector(candidates: tuple[str, ...] | None, low_accuracy: bool):
    key = (candidates, low_accuracy)
    if key not in _DETECTORS:
        import lingua

        if candidates:
            try:
                codes = [getattr(lingua.IsoCode639_1, c.upper()) for c in candidates]
            except AttributeError as exc:
                raise ValueError(f"unknown ISO 639-1 language code in {list(candidates)}: {exc}") from None
            builder = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        else:
            builder = lingua.LanguageDetectorBuilder.from_all_languages()
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        _DETECTORS[key] = builder.build()
    return _DETECTORS[key]


@register_step("langid", default=1)
class LanguageFilter(FilterStep):
    """Adds ``language`` (ISO 639-1, ``""`` if unknown), ``language_score`` and the keep/reason pair.

    A row is kept when its language is in ``languages`` (all kept when None) and the score reaches
    ``min_score``. Only the first ``max_chars`` characters are read.

    Args:
        text_column: the column to identify.
        languages: ISO 639-1 codes to keep (None: keep every language, only annotate).
        min_score: the detector's confidence below which a row is rejected.
        candidates: ISO 639-1 codes the detector may answer (None: all it knows; fewer is faster).
        low_accuracy: lingua's fast mode (n-grams of one length), enough for documents of a few lines.
        max_chars: characters read per document.

    Examples:

    ```python
    >>> out = LanguageFilter(languages=["en"])({"text": ["The river rose after the storm last night."]})
    >>> out["language"], out["langid_keep"]
    (['en'], [True])
    ```
    """

    name = "langid"

    def __init__(
        self,
        text_column: str = "text",
        languages: Iterable[str] | None = None,
        min_score: float = 0.0,
        candidates: Iterable[str] | None = None,
        low_accuracy: bool = True,
        max_chars: int = 500,
    ) -> None:
        self.text_column = text_column
        self.languages = sorted({x.lower() for x in languages}) if languages is not None else None
        self.min_score = min_score
        self.candidates = tuple(sorted({c.lower() for c in candidates})) if candidates else None
        self.low_accuracy = low_accuracy
        self.max_chars = max_chars

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        texts = [(t or "")[: self.max_chars] for t in batch[self.text_column]]
        results = _detector(
            self.candidates, self.low_accuracy
        ).compute_language_confidence_values_in_parallel(texts)
        langs: list[str] = []
        scores: list[float] = []
        for text, conf in zip(texts, results):
            if not text.strip() or not conf or conf[0].value <= 0.0:
                langs.append("")
                scores.append(0.0)
            else:
                langs.append(conf[0].language.iso_code_639_1.name.lower())
                scores.append(float(conf[0].value))
        wanted = set(self.languages) if self.languages is not None else None
        reasons = [
            f"{self.name}:unknown"
            if not lang
            else f"{self.name}:language"
            if wanted is not None and lang not in wanted
            else f"{self.name}:low_score"
            if score < self.min_score
            else ""
            for lang, score in zip(langs, scores)
        ]
        if wanted is None and self.min_score <= 0.0:
            reasons = ["" for _ in reasons]  # identification only: nothing is filtered
        return {"language": langs, "language_score": scores, **self.decisions(reasons)}
