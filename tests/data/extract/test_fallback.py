"""HtmlToMarkdown falls back to plain trafilatura when de-noising loses most of a page, and says so."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import pytest

from hf_addons.data.extract.html import HtmlToMarkdown, markdown_to_text


def _para(i: int) -> str:
    return " ".join(
        f"Sentence {i}.{j} tells how the harbour town rebuilt its old stone bridge after the storm."
        for j in range(4)
    )


# the article sits in blocks whose class names look like promotions: de-noising removes every one of them
MISLABELLED = f"""<html><head><title>Harbour bridge</title></head><body><nav><a href="/">Home</a></nav>
<article><h1>Harbour bridge</h1>{"".join(f'<div class="promo-{i}"><p>{_para(i)}</p></div>' for i in range(4))}
<p>The town council met on Monday.</p></article><footer>Copyright</footer></body></html>"""

NORMAL = f"""<html><head><title>Harbour bridge</title></head><body><nav><a href="/">Home</a> <a href="/n">News</a></nav>
<article><h1>Harbour bridge</h1>{"".join(f"<p>{_para(i)}</p>" for i in range(4))}
<div class="share-bar">Share this story on every network you use today</div></article></body></html>"""


def test_fallback_replaces_a_catastrophic_denoise_and_is_recorded():
    lost = HtmlToMarkdown(fallback_ratio=None).extract_one(MISLABELLED)
    assert len(lost["text"].split()) < 10 and lost["fallback"] is False  # the failure being guarded against
    out = HtmlToMarkdown().extract_one(MISLABELLED)
    assert out["fallback"] is True
    assert all(f"Sentence {i}.3" in out["text"] for i in range(4))
    cols = HtmlToMarkdown()({"html": [MISLABELLED, NORMAL], "url": [None, None]})
    assert cols["extract_fallback"] == [True, False] and cols["extract_keep"] == [True, True]


def test_no_fallback_when_denoising_only_removes_noise():
    out = HtmlToMarkdown().extract_one(NORMAL)
    assert out["fallback"] is False
    assert "Share this story" not in out["text"] and "Sentence 3.3" in out["text"]


def test_fallback_ratio_is_validated():
    for bad in (0.0, 1.5, -1):
        with pytest.raises(ValueError, match="fallback_ratio"):
            HtmlToMarkdown(fallback_ratio=bad)


def _f1(pred: str, gold: str) -> float:
    def sh(t: str) -> Counter:
        toks = re.findall(r"\w+", t)
        return Counter(tuple(toks[i : i + 4]) for i in range(len(toks) - 3))

    p, g = sh(pred), sh(gold)
    tp = sum((p & g).values())
    prec = tp / max(sum(p.values()), 1)
    rec = tp / max(sum(g.values()), 1)
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


@pytest.mark.slow
def test_no_article_page_far_below_plain_trafilatura(shared):
    import trafilatura

    root = shared("data", "article-extraction")
    truth = json.loads((root / "ground-truth.json").read_text())
    step = HtmlToMarkdown()
    worst = 1.0
    for k, v in truth.items():
        html = gzip.open(root / "html" / f"{k}.html.gz").read()
        ours = markdown_to_text(step.extract_one(html, v["url"])["text"])
        plain = trafilatura.extract(html) or ""
        worst = min(worst, _f1(ours, v["articleBody"]) - _f1(plain, v["articleBody"]))
    assert worst > -0.2, worst
