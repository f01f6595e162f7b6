"""Gopher, C4 and FineWeb rule filters (``hf_addons.data.filters.quality``)."""

from __future__ import annotations

from data.helpers import GOOD

from hf_addons.data.filters.quality import (
    C4Filter,
    FineWebFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)


def test_gopher_quality_rules_and_reasons():
    f = GopherQualityFilter()
    texts = [
        GOOD,
        "too short text",
        "# " * 30 + GOOD,
        "12345 67890 " * 40,
        ("word " * 60).strip(),
        "\n".join(["- item the and of"] * 60),
    ]
    out = f({"text": texts})
    assert out["gopher_quality_reason"] == [
        "",
        "gopher_quality:gopher_short_doc",
        "gopher_quality:gopher_too_many_hashes",
        "gopher_quality:gopher_below_alpha_threshold",
        "gopher_quality:gopher_enough_stop_words",
        "gopher_quality:gopher_too_many_bullets",
    ]
    assert out["gopher_quality_keep"] == [True] + [False] * 5
    assert GopherQualityFilter(min_doc_words=1)({"text": ["too short text the and"]})[
        "gopher_quality_keep"
    ] == [True]


def test_gopher_repetition_rules():
    f = GopherRepetitionFilter()
    repeated_lines = "\n".join(["Buy cheap watches online today."] * 8 + ["A real sentence here."])
    spammy = "click here now " * 50
    out = f({"text": [GOOD.replace(". ", ".\n"), repeated_lines, spammy]})
    assert out["gopher_repetition_reason"][0] == ""
    assert out["gopher_repetition_reason"][1].startswith("gopher_repetition:dup_")
    assert out["gopher_repetition_reason"][2].startswith("gopher_repetition:")


def test_c4_drops_lines_and_rejects_documents():
    text = "\n".join(
        [
            "This line is a proper sentence with an ending.",
            "Menu Home About",
            "Please enable JavaScript to view this site properly.",
            "We use cookies, see our privacy policy for details.",
            "A second proper sentence ends here[1].",
            "Third sentence of real content follows.",
            "Fourth sentence is also real content.",
            "Fifth and final sentence closes it.",
        ]
    )
    out = C4Filter()({"text": [text, "lorem ipsum dolor sit amet.", "function() { return 1; }"]})
    assert out["c4_reason"] == ["", "c4:lorem_ipsum", "c4:curly_bracket"]
    kept = out["text"][0].splitlines()
    assert kept[1] == "A second proper sentence ends here."
    assert len(kept) == 5 and not any("JavaScript" in x or "cookies" in x or "Menu" in x for x in kept)
    assert C4Filter()({"text": ["One sentence only."]})["c4_reason"] == ["c4:too_few_sentences"]


def test_fineweb_rules():
    f = FineWebFilter()
    lines = "\n".join(f"Item number {i}" for i in range(20))
    dup = GOOD + "\n" + "\n".join(["Subscribe to our newsletter for updates."] * 3)
    out = f({"text": [GOOD, lines, dup, ""]})
    assert out["fineweb_reason"] == [
        "",
        "fineweb:line_punct_ratio",
        "fineweb:char_dup_ratio",
        "fineweb:empty",
    ]
