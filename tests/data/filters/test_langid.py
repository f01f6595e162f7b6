"""Language identification filter (``hf_addons.data.filters.langid``)."""

from __future__ import annotations

import pytest

from hf_addons.data.filters.langid import LanguageFilter

GOOD = (
    "The committee said that the new bridge will be finished next spring. "
    "Engineers have worked with the city to reduce the noise of the traffic. "
    "Residents of the area welcomed the plan and asked that the old path be kept. "
    "The mayor thanked the workers and promised that the budget is safe. "
    "A local historian noted that the first crossing was built of timber in 1850. "
    "Floods destroyed it twice, so the council chose stone for its successor. "
    "Shops near the river expect more visitors once the footpath reopens. "
    "Cyclists asked for a separate lane, which the designers have now included. "
    "Work starts on Monday and should disturb nearby homes only for a few weeks."
)


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
