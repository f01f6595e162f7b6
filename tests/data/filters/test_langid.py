"""Language identification filter (``hf_addons.data.filters.langid``)."""

from __future__ import annotations

import pytest
from data.helpers import GOOD

from hf_addons.data.filters.langid import LanguageFilter


def test_language_filter_columns_and_decisions():
    f = LanguageFilter(languages=["en"], min_score=0.2)
    texts = [
        GOOD,
        "Le comité a déclaré que le nouveau pont sera terminé au printemps prochain avec la ville.",
        "",
    ]
    out = f({"text": texts})
    assert out["language"][:2] == ["en", "fr"] and out["language"][2] == ""
    assert out["language_score"][0] > 0.2
    assert out["langid_reason"] == ["", "langid:language", "langid:unknown"]
    only_id = LanguageFilter()({"text": texts})
    assert only_id["langid_keep"] == [True, True, True]
    with pytest.raises(ValueError, match="unknown ISO 639-1"):
        LanguageFilter(candidates=["xx"])({"text": ["hello"]})
