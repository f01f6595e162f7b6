"""Heuristic quality rules as filter steps: Gopher quality, Gopher repetition, C4 lines, FineWeb.

Each step adds ``<name>_keep`` and ``<name>_reason`` (the first rule that failed, e.g.
``"gopher_quality:mean_word_length"``). Thresholds default to the published values (Rae et al. 2021 for
Gopher, Raffel et al. 2020 for C4, Penedo et al. 2024 for FineWeb) as datatrove implements them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from hf_addons.data.base import Batch, TextFilter, register_step, require_columns

_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\S+")
_PUNCT_STRIP = re.compile(r"^\W+|\W+$")
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("\u2022", "\u2023", "\u25b6", "\u25cf", "\u25e6", "\u25aa", "\u25ab", "\u2013", "-", "*")
END_PUNCT = (".", "!", "?", '"', "\u201d", "'", "\u2019", "\u2026")


@register_step("gopher_quality", default=2)
class GopherQualityFilter(TextFilter):
    """Gopher quality rules: document length, mean word length, symbol, bullet, ellipsis, alpha, stop words.

    Args:
        text_column: the column to judge.
        min_doc_words: fewer words rejects (None: rule off; the same for every threshold below).
        max_doc_words: more words rejects.
        min_avg_word_length: a lower mean word length rejects.
        max_avg_word_length: a higher mean word length rejects.
        max_symbol_word_ratio: more ``#`` or ellipsis tokens per word rejects.
        max_bullet_lines_ratio: a larger share of lines starting with a bullet rejects.
        max_ellipsis_lines_ratio: a larger share of lines ending in an ellipsis rejects.
        max_non_alpha_words_ratio: a lower share of words with a letter rejects (the rule keeps datatrove's name).
        min_stop_words: fewer of ``stop_words`` rejects.
        stop_words: the stop words counted.

    Examples:

    ```python
    >>> out = GopherQualityFilter()({"text": ["too short"]})
    >>> out["gopher_quality_keep"], out["gopher_quality_reason"]
    ([False], ['gopher_quality:gopher_short_doc'])
    ```
    """

    name = "gopher_quality"

    def __init__(
        self,
        text_column: str = "text",
        min_doc_words: int | None = 50,
        max_doc_words: int | None = 100_000,
        min_avg_word_length: float | None = 3,
        max_avg_word_length: float | None = 10,
        max_symbol_word_ratio: float | None = 0.1,
        max_bullet_lines_ratio: float | None = 0.9,
        max_ellipsis_lines_ratio: float | None = 0.3,
        max_non_alpha_words_ratio: float | None = 0.8,
        min_stop_words: int | None = 2,
        stop_words: Iterable[str] = STOP_WORDS,
    ) -> None:
        self.text_column = text_column
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.max_non_alpha_words_ratio = max_non_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(stop_words)

    def reason(self, text: str) -> str:
        p = f"{self.name}:"
        tokens = _TOKEN.findall(text)
        # words without surrounding punctuation, punctuation-only tokens dropped (as datatrove does)
        words = [w for w in (_PUNCT_STRIP.sub("", t) for t in tokens) if w]
        n = len(words)
        if self.min_doc_words is not None and n < self.min_doc_words:
            return p + "gopher_short_doc"
        if self.max_doc_words is not None and n > self.max_doc_words:
            return p + "gopher_long_doc"
        mean_len = sum(map(len, words)) / max(n, 1)
        if self.min_avg_word_length is not None and mean_len < self.min_avg_word_length:
            return p + "gopher_below_avg_threshold"
        if self.max_avg_word_length is not None and mean_len > self.max_avg_word_length:
            return p + "gopher_above_avg_threshold"
        n_tok = max(len(tokens), 1)
        if self.max_symbol_word_ratio is not None:
            symbols = text.count("#") / n_tok
            if symbols > self.max_symbol_word_ratio:
                return p + "gopher_too_many_hashes"
            if (text.count("...") + text.count("\u2026")) / n_tok > self.max_symbol_word_ratio:
                return p + "gopher_too_many_ellipsis"
        lines = text.splitlines() or [""]
        if self.max_bullet_lines_ratio is not None:
            bullets = sum(1 for s in lines if s.lstrip().startswith(BULLETS))
            if bullets / len(lines) > self.max_bullet_lines_ratio:
                return p + "gopher_too_many_bullets"
        if self.max_ellipsis_lines_ratio is not None:
            ell = sum(1 for s in lines if s.rstrip().endswith(("...", "\u2026")))
            if ell / len(lines) > self.max_ellipsis_lines_ratio:
                return p + "gopher_too_many_end_ellipsis"
        if self.max_non_alpha_words_ratio is not None:
            alpha = sum(1 for w in words if any(c.isalpha() for c in w))
            if alpha / max(n, 1) < self.max_non_alpha_words_ratio:
                return p + "gopher_below_alpha_threshold"
        if self.min_stop_words is not None:
            stops = sum(1 for w in words if w.lower() in self.stop_words)
            if stops < self.min_stop_words:
                return p + "gopher_enough_stop_words"
        return ""


def _dup_stats(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in repeated items) counting every occurrence after the first."""
    seen: set[str] = set()
    dups = chars = 0
    for it in items:
        if it in seen:
            dups += 1
            chars += len(it)
        else:
            seen.add(it)
    return dups, chars


@register_step("gopher_repetition", default=3)
class GopherRepetitionFilter(TextFilter):
    """Gopher repetition rules: duplicate lines/paragraphs (count and chars), top n-gram and duplicate n-gram
    character fractions.

    Args:
        text_column: the column to judge.
        dup_line_frac: a larger share of duplicated lines rejects (None: rule off; the same below).
        dup_para_frac: a larger share of duplicated paragraphs rejects.
        dup_line_char_frac: a larger share of characters in duplicated lines rejects.
        dup_para_char_frac: a larger share of characters in duplicated paragraphs rejects.
        top_n_grams: ``(n, share)``: the most frequent n-gram covering more than ``share`` of the characters rejects.
        dup_n_grams: ``(n, share)``: duplicated n-grams covering more than ``share`` of the characters reject.

    Examples:

    ```python
    >>> GopherRepetitionFilter()({"text": ["same line\\n" * 10]})["gopher_repetition_keep"]
    [False]
    ```
    """

    name = "gopher_repetition"

    def __init__(
        self,
        text_column: str = "text",
        dup_line_frac: float | None = 0.3,
        dup_para_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        dup_para_char_frac: float | None = 0.2,
        top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16)),
        dup_n_grams: tuple[tuple[int, float], ...] = (
            (5, 0.15),
            (6, 0.14),
            (7, 0.13),
            (8, 0.12),
            (9, 0.11),
            (10, 0.10),
        ),
    ) -> None:
        self.text_column = text_column
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n_grams = tuple(top_n_grams)
        self.dup_n_grams = tuple(dup_n_grams)

    def reason(self, text: str) -> str:
        p = f"{self.name}:"
        total = max(len(text), 1)
        paras = [x for x in re.split(r"\n{2,}", text.strip()) if x.strip()]
        dups, chars = _dup_stats(paras)
        if self.dup_para_frac is not None and paras and dups / len(paras) > self.dup_para_frac:
            return p + "dup_para_frac"
        if self.dup_para_char_frac is not None and chars / total > self.dup_para_char_frac:
            return p + "dup_para_char_frac"
        lines = [x for x in text.splitlines() if x.strip()]
        dups, chars = _dup_stats(lines)
        if self.dup_line_frac is not None and lines and dups / len(lines) > self.dup_line_frac:
            return p + "dup_line_frac"
        if self.dup_line_char_frac is not None and chars / total > self.dup_line_char_frac:
            return p + "dup_line_char_frac"
        words = _WORD.findall(text.lower())
        if not words:
            return ""
        word_len = np.fromiter(map(len, words), np.int64, len(words))
        word_chars = max(int(word_len.sum()), 1)
        vocab: dict[str, int] = {}
        ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), np.uint64, len(words))
        top = dict(self.top_n_grams)
        dup = dict(self.dup_n_grams)
        # n-gram keys for n = 1, 2, ... built incrementally (one vectorised pass per n)
        key = np.zeros(len(words), np.uint64)
        for n in range(1, max([*top, *dup, 0]) + 1):
            if len(words) < n:
                break
            m = len(words) - n + 1
            with np.errstate(over="ignore"):
                key = (key[:m] ^ (ids[n - 1 :] + np.uint64(n))) * _MULT[n % 4]
                key ^= key >> np.uint64(31)
            if n not in top and n not in dup:
                continue
            _, first, inverse, counts = np.unique(
                key, return_index=True, return_inverse=True, return_counts=True
            )
            if n in top:
                best = int(np.argmax(counts))
                p0 = int(first[best])
                if counts[best] > 1 and counts[best] * int(word_len[p0 : p0 + n].sum()) / word_chars > top[n]:
                    return p + f"top_{n}_gram"
            if n in dup:
                repeated = counts[inverse] > 1  # per start position
                # a word is covered when any repeated n-gram spans it
                covered = np.convolve(repeated.astype(np.int64), np.ones(n, np.int64))[: len(words)] > 0
                if int(word_len[covered].sum()) / word_chars > dup[n]:
                    return p + f"duplicated_{n}_n_grams"
        return ""


# odd multipliers mixing word ids into n-gram keys (collisions need ~2^32 n-grams in one document)
# odd multipliers mixing word ids into n-gram keys (a collision needs ~2^32 n-grams in one document)
_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], np.uint64)


_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@register_step("c4")
class C4Filter(TextFilter):
    """C4 line rules: drop lines without terminal punctuation, with few words, with "javascript" or policy
    text; reject documents with lorem ipsum, curly brackets, or too few sentences left.

    With ``modify_text`` (default) the surviving lines replace the text, as in C4 itself.

    Args:
        text_column: the column to judge (and rewrite with ``modify_text``).
        min_num_sentences: fewer sentences left rejects the document.
        min_words_per_line: shorter lines are dropped.
        max_word_length: a line with a longer word is dropped.
        remove_citations: remove ``[1]``, ``[edit]``, ``[citation needed]`` markers.
        filter_no_terminal_punct: drop lines without terminal punctuation.
        filter_lorem_ipsum: reject documents with "lorem ipsum".
        filter_javascript: drop lines mentioning "javascript".
        filter_curly_bracket: reject documents with ``{``.
        filter_policy: drop lines with cookie/privacy/terms-of-use text.
        modify_text: write the surviving lines back to ``text_column``.

    Examples:

    ```python
    >>> C4Filter()({"text": ["lorem ipsum dolor sit amet."]})["c4_reason"]
    ['c4:lorem_ipsum']
    ```
    """

    name = "c4"

    def __init__(
        self,
        text_column: str = "text",
        min_num_sentences: int = 5,
        min_words_per_line: int = 3,
        max_word_length: int = 1000,
        remove_citations: bool = True,
        filter_no_terminal_punct: bool = True,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
        modify_text: bool = True,
    ) -> None:
        self.text_column = text_column
        self.min_num_sentences = min_num_sentences
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.remove_citations = remove_citations
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy
        self.modify_text = modify_text

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        texts, reasons = [], []
        for t in batch[self.text_column]:
            new, r = self.clean(t or "")
            texts.append(new)
            reasons.append(r)
        out = self.decisions(reasons)
        if self.modify_text:
            out[self.text_column] = texts
        return out

    def reason(self, text: str) -> str:
        return self.clean(text)[1]

    def clean(self, text: str) -> tuple[str, str]:
        """(text with C4-rejected lines removed, document reason)."""
        p = f"{self.name}:"
        low = text.lower()
        if self.filter_lorem_ipsum and "lorem ipsum" in low:
            return text, p + "lorem_ipsum"
        if self.filter_curly_bracket and "{" in text:
            return text, p + "curly_bracket"
        kept: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if self.remove_citations:
                line = _CITATION.sub("", line)
            words = line.split()
            if len(words) < self.min_words_per_line:
                continue
            if max(map(len, words)) > self.max_word_length:
                continue
            if self.filter_no_terminal_punct and not line.endswith(END_PUNCT):
                continue
            lline = line.lower()
            if self.filter_javascript and "javascript" in lline:
                continue
            if self.filter_policy and any(s in lline for s in _POLICY):
                continue
            kept.append(line)
        new = "\n".join(kept)
        sentences = len(re.findall(r"[.!?]+(?:\s|$)", new))
        if sentences < self.min_num_sentences:
            return new, p + "too_few_sentences"
        return new, ""


@register_step("fineweb", default=4)
class FineWebFilter(TextFilter):
    """FineWeb's own rules: share of lines ending in punctuation, share of short lines, duplicated-line
    characters, and newlines per word (list-like pages).

    Args:
        text_column: the column to judge.
        line_punct_thr: a lower share of lines ending in punctuation rejects.
        line_punct_exclude_zero: do not reject documents where no line ends in punctuation.
        short_line_thr: a larger share of lines shorter than ``short_line_length`` rejects.
        short_line_length: characters below which a line is short.
        char_duplicates_ratio: a larger share of characters in duplicated lines rejects.
        new_line_ratio: more newlines per word rejects (list-like pages).

    Examples:

    ```python
    >>> FineWebFilter()({"text": ["a\\nb\\nc\\nd"]})["fineweb_keep"]
    [False]
    ```
    """

    name = "fineweb"

    def __init__(
        self,
        text_column: str = "text",
        line_punct_thr: float = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float = 0.01,
        new_line_ratio: float = 0.3,
    ) -> None:
        self.text_column = text_column
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    def reason(self, text: str) -> str:
        p = f"{self.name}:"
        lines = [s for s in text.split("\n") if s.strip()]
        if not lines:
            return p + "empty"
        ratio = sum(1 for s in lines if s.endswith(END_PUNCT)) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return p + "line_punct_ratio"
        if sum(1 for s in lines if len(s) <= self.short_line_length) / len(lines) > self.short_line_thr:
            return p + "short_line_ratio"
        _, dup_chars = _dup_stats(lines)
        if dup_chars / max(len(text.replace("\n", "")), 1) > self.char_duplicates_ratio:
            return p + "char_dup_ratio"
        words = _WORD.findall(text)
        if text.count("\n") / max(len(words), 1) > self.new_line_ratio:
            return p + "list_ratio"
        return ""
