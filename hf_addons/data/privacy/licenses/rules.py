"""ScanCode's license *rules*, matched by our own vectorised code (no ScanCode import at run time).

ScanCode detects licenses by matching ~36,000 rules (notices, references, tags, intros, clues, false
positives; ``licensedcode/data/rules``, CC-BY-4.0) plus its license texts. Many of the ids it reports come
from a rule, not from a license text (``LicenseRef-scancode-proprietary-license`` for a "do not distribute"
clause, ``unknown-license-reference`` for "see LICENSE", ``GPL-1.0-or-later`` for a bare "GNU GPL"), so the
classifier matches the same rules, the way ScanCode's exact ("aho") stage does, then applies ScanCode's
refinement (contained and overlapping matches, false-positive rules, required phrases) and its detection
logic (matches grouped by lines, false-positive groups, clues and intros dropped).

Token model (``licensedcode/tokenize.py``): lowercase words ``[^_\\W]+\\+?[^_\\W]*``, ScanCode's stop words
dropped, words no rule has skipped (a match may span them, except in a required phrase or a continuous
rule); the words of one group of ScanCode's legalese dictionary share one id ("licence", "license"), and
legalese words are the high-value tokens the approximate stage (:mod:`.approx`) anchors on. Exact matching: a rolling polynomial hash (mod 2**64) over token ids; rules of length >= ``_ANCHOR``
are looked up by the hash of their first ``_ANCHOR`` tokens and verified by their full hash, shorter ones by
their full hash per length: a few numpy passes per file, no per-token Python loop.

The index is compiled once by :func:`build_rule_index` into ``data/scancode-rules.npz.xz``.
"""

from __future__ import annotations

import io
import json
import lzma
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

RULES_FILE = Path(__file__).resolve().parent / "data" / "scancode-rules.npz.xz"
_WORD_OR_NEWLINE = re.compile(r"\r\n?|\n|[^_\W]+\+?[^_\W]*", re.UNICODE)
_MAX_TOKEN = 48  # characters kept of a word (longer ones are junk such as base64; both sides truncate alike)
# rule flags (bit field)
TEXT, NOTICE, REFERENCE, TAG, INTRO, CLUE, FALSE_POSITIVE, CONTINUOUS = (1 << i for i in range(8))
FROM_LICENSE, HAS_UNKNOWN, BARE, GPL_ID, REQUIRED_PHRASE = (1 << i for i in range(8, 13))
_ANCHOR = 6  # tokens hashed to find candidate occurrences of a long rule
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible mod 2**64
_LINES_THRESHOLD = 4  # ScanCode's detection.LINES_THRESHOLD: matches this many lines apart form one detection


_CHAR_WEIGHTS = np.random.default_rng(0).integers(1, 1 << 63, size=_MAX_TOKEN, dtype=np.uint64) | np.uint64(1)


def _word_hashes(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash per word of a fixed-width string array: sum of code point x position weight (mod 2**64),
    one vectorised step per character position."""
    chars = words.view(np.uint32).reshape(len(words), -1)
    h = np.zeros(len(words), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(chars.shape[1]):  # _MAX_TOKEN steps over all words, not one step per word
            h += chars[:, j].astype(np.uint64) * _CHAR_WEIGHTS[j]
    return h


def _window_hashes(q: np.ndarray, bpow: np.ndarray, length: int) -> np.ndarray:
    """Hash of every window of ``length`` tokens: ``(Q[a+L] - Q[a]) * B**a`` with ``Q`` the prefix sums of
    ``(t_k + 1) * B**-k``, so that a window's hash equals ``sum (t_j + 1) * B**-j`` over its own positions."""
    n = len(q) - 1 - length + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    return (q[length : length + n] - q[:n]) * bpow[:n]


@dataclass
class Matches:
    """Rule occurrences in a file: rule id and the first and last+1 position among the file's known words."""

    rule: np.ndarray
    start: np.ndarray
    end: np.ndarray
    coverage: np.ndarray | None = None  # matched share of the rule (sequence matches; exact ones: 1)


class RuleIndex:
    """The compiled rules: token ids, metadata and hash tables for exact matching."""

    def __init__(self, path: Path = RULES_FILE):
        if not path.exists():
            raise FileNotFoundError(f"ScanCode rule index missing: {path} (build it with build_rule_index)")
        z = np.load(io.BytesIO(lzma.decompress(path.read_bytes())))
        self.vocab = {t: i for i, t in enumerate(str(z["vocab"]).split("\n"))}
        self.stopwords = frozenset(str(z["stopwords"]).split("\n"))
        # ids >= n_words are stop words: skipped by rule matching, read by the license-text matcher
        self.n_words = len(self.vocab)
        self.words = list(self.vocab) + sorted(self.stopwords - set(self.vocab))
        h = _word_hashes(np.array(self.words, dtype=f"<U{_MAX_TOKEN}"))
        order = np.argsort(h, kind="stable")
        self.hash_sorted, self.hash_ids = h[order], order.astype(np.int64)
        self.exprs: list[str] = json.loads(str(z["exprs"]))
        self.aliases: dict[str, str] = json.loads(str(z["aliases"]))
        self.categories: dict[str, str] = json.loads(str(z["categories"]))
        # ScanCode's token ids: the words of one legalese group share the id of the group's first word
        group = z["legalese_group"].astype(np.int64)
        self.legalese = group >= 0  # per word: one of ScanCode's legalese (high-value) words
        self.canonical = np.arange(len(self.words))
        words_in = np.flatnonzero(self.legalese)
        _, first, inverse = np.unique(group[words_in], return_index=True, return_inverse=True)
        self.canonical[words_in] = words_in[first][inverse]
        self.tokens = self.canonical[z["tokens"].astype(np.int64)]
        self.offsets = z["offsets"]
        self.req, self.req_offsets = z["req"], z["req_offsets"]
        self.flags = z["flags"].astype(np.int64)
        self.relevance = z["relevance"].astype(np.int64)
        self.min_coverage = z["min_coverage"].astype(np.int64)
        self.digits = np.char.isdigit(np.array(self.words[: self.n_words]))
        self.expr = z["expr"]
        self.length = np.diff(self.offsets)
        n_rules = len(self.length)
        max_len = int(self.length.max())
        binv = np.uint64(pow(int(_BASE), -1, 1 << 64))
        with np.errstate(over="ignore"):
            self.bpow = np.cumprod(np.full(max(max_len, 1 << 16) + 1, _BASE, dtype=np.uint64))
            self.bpow = np.concatenate(([np.uint64(1)], self.bpow[:-1]))
            self.binvpow = np.cumprod(np.full(len(self.bpow), binv, dtype=np.uint64))
            self.binvpow = np.concatenate(([np.uint64(1)], self.binvpow[:-1]))
            rule_of = np.repeat(np.arange(n_rules), self.length)
            pos = np.arange(len(self.tokens)) - self.offsets[:-1][rule_of]
            w = (self.tokens.astype(np.uint64) + np.uint64(1)) * self.binvpow[pos]
            self.hash = np.add.reduceat(w, self.offsets[:-1])
            anchor_w = np.where(pos < _ANCHOR, w, np.uint64(0))
            self.anchor_hash = np.add.reduceat(anchor_w, self.offsets[:-1])
        short = self.length < _ANCHOR
        self.short_by_len = {}
        for L in range(1, _ANCHOR):
            rids = np.flatnonzero(self.length == L)
            order = np.argsort(self.hash[rids], kind="stable")
            self.short_by_len[L] = (self.hash[rids][order], rids[order])
        long_rids = np.flatnonzero(~short)
        order = np.argsort(self.anchor_hash[long_rids], kind="stable")
        self.long_rids = long_rids[order]
        self.long_keys = self.anchor_hash[self.long_rids]

    def expression(self, rid: int) -> str:
        return self.exprs[int(self.expr[rid])]

    def lookup(self, tokens: np.ndarray) -> np.ndarray:
        """Word ids of ``tokens`` (a fixed-width string array): -1 for a word no rule or text has, ids from
        ``n_words`` on for stop words, the words of a legalese group one id. Words are compared by a 64-bit
        hash of their characters."""
        if not len(tokens):
            return np.zeros(0, dtype=np.int64)
        h = _word_hashes(tokens)
        pos = np.minimum(np.searchsorted(self.hash_sorted, h), len(self.hash_sorted) - 1)
        return np.where(self.hash_sorted[pos] == h, self.canonical[self.hash_ids[pos]], -1)

    def tokenize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Lowercase words as ScanCode splits them (stop words kept here; :meth:`lookup` marks them) and the
        0-based line of each, with no per-word Python step: one ``findall`` (newlines included), then numpy."""
        found = _WORD_OR_NEWLINE.findall(text.lower())
        if not found:
            return np.zeros(0, dtype=f"<U{_MAX_TOKEN}"), np.zeros(0, dtype=np.int64)
        arr = np.array(found, dtype=f"<U{_MAX_TOKEN}")
        first = arr.view(np.uint32).reshape(len(arr), -1)[:, 0]
        nl = (first == 10) | (first == 13)  # "\n", "\r", "\r\n": words never start with either
        return arr[~nl], np.cumsum(nl)[~nl]

    def exact(self, ids: np.ndarray) -> Matches:
        """Every occurrence of every rule in ``ids`` (ScanCode's aho stage, on known tokens)."""
        n = len(ids)
        empty = np.zeros(0, dtype=np.int64)
        if n == 0:
            return Matches(empty, empty, empty)
        with np.errstate(over="ignore"):
            w = (ids.astype(np.uint64) + np.uint64(1)) * self.binvpow[:n] if n <= len(self.binvpow) else None
            if w is None:
                raise ValueError(f"query of {n} tokens exceeds the hash table ({len(self.binvpow)})")
            q = np.concatenate(([np.uint64(0)], np.cumsum(w, dtype=np.uint64)))
            rules, starts = [], []
            for L, (keys, rids) in self.short_by_len.items():
                h = _window_hashes(q, self.bpow, L)
                if not len(h) or not len(keys):
                    continue
                pos = np.minimum(np.searchsorted(keys, h), len(keys) - 1)
                hit = np.flatnonzero(keys[pos] == h)
                if len(hit):
                    lo = np.searchsorted(keys, h[hit], "left")
                    hi = np.searchsorted(keys, h[hit], "right")
                    cnt = hi - lo
                    idx = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
                    rules.append(rids[idx])
                    starts.append(np.repeat(hit, cnt))
            h = _window_hashes(q, self.bpow, _ANCHOR)
            if len(h):
                lo = np.searchsorted(self.long_keys, h, "left")
                hi = np.searchsorted(self.long_keys, h, "right")
                cnt = hi - lo
                sel = np.flatnonzero(cnt)
                if len(sel):
                    cnt = cnt[sel]
                    idx = np.repeat(lo[sel] - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
                    rid = self.long_rids[idx]
                    st = np.repeat(sel, cnt)
                    L = self.length[rid]
                    ok = st + L <= n
                    rid, st, L = rid[ok], st[ok], L[ok]
                    full = (q[st + L] - q[st]) * self.bpow[st]
                    good = full == self.hash[rid]
                    rules.append(rid[good])
                    starts.append(st[good])
        if not rules:
            return Matches(empty, empty, empty)
        rule = np.concatenate(rules)
        start = np.concatenate(starts)
        return Matches(rule, start, start + self.length[rule])


@lru_cache(maxsize=1)
def rule_index() -> RuleIndex:
    return RuleIndex()


def _contained(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mask of spans inside an earlier-sorted span (input sorted by start, then longest first)."""
    if len(start) < 2:
        return np.zeros(len(start), dtype=bool)
    prev_max_end = np.maximum.accumulate(end)[:-1]
    return np.concatenate(([False], prev_max_end >= end[1:]))


def refine(ix: RuleIndex, m: Matches, unknown_before: np.ndarray, approx: Matches | None = None) -> Matches:
    """ScanCode's ``refine_matches`` for exact matches, in its order: matches missing a required phrase (or,
    for a continuous rule, any part) because an unknown word sits inside are dropped; then matches contained
    in a larger one; then the shorter of two matches that overlap by >= 70% of it (or >= 40% when the larger
    one's license ids include its ids), and a match >= 90% made of the ends of its two neighbours; then
    matches to false-positive rules, which have by then removed the true-looking matches they contain.
    ``approx``: sequence matches (already checked for required phrases, see :mod:`.approx`) refined
    together with the exact ones, on their first-to-last matched position spans."""
    m = refine_phrases(ix, m, unknown_before)
    coverage = np.ones(len(m.rule))
    if approx is not None and len(approx.rule):
        m = Matches(
            np.concatenate([m.rule, approx.rule]),
            np.concatenate([m.start, approx.start]),
            np.concatenate([m.end, approx.end]),
        )
        coverage = np.concatenate([coverage, approx.coverage])
    return _refine_spans(ix, m, coverage)


def refine_phrases(ix: RuleIndex, m: Matches, unknown_before: np.ndarray) -> Matches:
    """Exact matches missing a required phrase (or, for a continuous rule, any part) because an unknown
    word sits inside are dropped."""
    if not len(m.rule):
        return m
    ub = unknown_before
    keep = np.ones(len(m.rule), dtype=bool)
    cont = (ix.flags[m.rule] & CONTINUOUS) != 0
    keep &= ~(cont & (ub[m.end - 1] - ub[m.start] > 0))
    n_req = ix.req_offsets[m.rule + 1] - ix.req_offsets[m.rule]
    if n_req.sum():
        which = np.repeat(np.arange(len(m.rule)), n_req)
        span_idx = np.repeat(ix.req_offsets[m.rule] - np.cumsum(n_req) + n_req, n_req) + np.arange(
            n_req.sum()
        )
        s = m.start[which] + ix.req[span_idx, 0]
        e = m.start[which] + ix.req[span_idx, 1]
        bad = ub[e - 1] - ub[s] > 0
        keep[which[bad]] = False
    return Matches(m.rule[keep], m.start[keep], m.end[keep])


def _refine_spans(ix: RuleIndex, m: Matches, coverage: np.ndarray) -> Matches:
    """Contained, overlapping, between-neighbours and false-positive filters (see :func:`refine`); of two
    matches on the same span the better covered rule stays (ScanCode's ``filter_contained_matches``)."""
    if not len(m.rule):
        return Matches(m.rule, m.start, m.end, np.zeros(0))
    rule, start, end = m.rule, m.start, m.end
    order = np.lexsort((rule, -coverage, -end, start))
    rule, start, end, coverage = rule[order], start[order], end[order], coverage[order]
    inside = _contained(start, end)
    rule, start, end, coverage = rule[~inside], start[~inside], end[~inside], coverage[~inside]
    # overlapping: few matches are left, a short loop over them (not over tokens)
    alive = np.ones(len(rule), dtype=bool)
    for i in range(len(rule)):
        if not alive[i]:
            continue
        for j in range(i + 1, len(rule)):
            if start[j] >= end[i]:
                break
            if not alive[j]:
                continue
            if ix.flags[rule[i]] & ix.flags[rule[j]] & FALSE_POSITIVE:
                continue
            ov = min(end[i], end[j]) - start[j]
            li, lj = end[i] - start[i], end[j] - start[j]
            small, big = (j, i) if lj <= li else (i, j)
            ratio = ov / min(li, lj)
            if ratio >= 0.7 or (
                ratio >= 0.4 and _ids(ix.expression(rule[small])) <= _ids(ix.expression(rule[big]))
            ):
                alive[small] = False
                if small == i:
                    break
    rule, start, end, coverage = rule[alive], start[alive], end[alive], coverage[alive]
    # a match mostly made of the ends of its two neighbours (which do not overlap each other) goes
    if len(rule) >= 3:
        ov_prev = np.clip(end[:-2] - start[1:-1], 0, None)
        ov_next = np.clip(end[1:-1] - start[2:], 0, None)
        between = (ov_prev > 0) & (ov_next > 0) & (end[:-2] <= start[2:])
        drop = between & (ov_prev + ov_next >= 0.9 * (end[1:-1] - start[1:-1]))
        keep_mid = np.concatenate(([True], ~drop, [True]))
        rule, start, end, coverage = rule[keep_mid], start[keep_mid], end[keep_mid], coverage[keep_mid]
    fp = (ix.flags[rule] & FALSE_POSITIVE) != 0
    return Matches(rule[~fp], start[~fp], end[~fp], coverage[~fp])


def spdx_expression(ix: RuleIndex, text: str) -> str | None:
    """An ``SPDX-License-Identifier`` value as ScanCode reads it: ids and their aliases (``GPL-2.0+``)
    case-insensitively to the SPDX id, an id ScanCode does not know to ``LicenseRef-scancode-unknown-spdx``."""
    out = []
    for tok in re.findall(r"\(|\)|[^\s()]+", text):
        if tok in "()" or tok.upper() in ("AND", "OR", "WITH"):
            out.append(tok if tok in "()" else tok.upper())
        else:
            out.append(ix.aliases.get(tok.lower(), "LicenseRef-scancode-unknown-spdx"))
    return " ".join(out).replace("( ", "(").replace(" )", ")") or None


def _ids(expr: str) -> set[str]:
    return {t for t in re.findall(r"[^\s()]+", expr) if t.upper() not in ("AND", "OR", "WITH")}


def detect(
    tokens: np.ndarray,
    s: np.ndarray,
    e: np.ndarray,
    l0: np.ndarray,
    l1: np.ndarray,
    flags: np.ndarray,
    relevance: np.ndarray,
    length: np.ndarray,
    exprs: list[str],
) -> list[tuple[int, list[str]]]:
    """ScanCode's detections from refined matches: ``[(first token, [expressions])]`` in file order.

    A match is its token span ``s:e`` in ``tokens``, first and last line, rule flags, relevance, rule
    length and expression (license texts and SPDX tags found apart come in as matches too, fully
    relevant). Matches whose lines are at most 4 apart form one detection (an intro joins the next match;
    a clue stands alone). A detection is dropped as ScanCode's ``is_false_positive`` says (no copyright
    word in the matched text, not all rules fully relevant, and: one low-relevance "bare" rule, only
    one-word GPL rules, or only one-word license tags), and when it is made of license clues only; an
    "unknown" intro followed by a proper match is dropped from its detection."""
    if not len(s):
        return []
    order = np.lexsort((e, s))
    s, e, l0, l1, flags = s[order], e[order], l0[order], l1[order], flags[order]
    relevance, length = relevance[order], length[order]
    exprs = [exprs[i] for i in order]
    groups: list[list[int]] = []
    cur: list[int] = []
    for k in range(len(s)):  # one step per match, not per token
        if not cur:
            cur = [k]
            continue
        prev = cur[-1]
        if flags[prev] & INTRO:
            cur.append(k)
        elif flags[k] & INTRO:
            groups.append(cur)
            cur = [k]
        elif flags[k] & CLUE:
            groups += [cur, [k]]
            cur = []
        elif l0[k] <= l1[prev] + _LINES_THRESHOLD:
            cur.append(k)
        else:
            groups.append(cur)
            cur = [k]
    if cur:
        groups.append(cur)
    out = []
    for g in groups:
        f, rel, ln = flags[g], relevance[g], length[g]
        if not (rel == 100).all() and not all(
            np.isin(["copyright", "c"], tokens[s[k] : e[k]]).any() for k in g
        ):  # "(c)" is the word "c"
            low = (rel < 60).all()
            if (len(g) == 1 and (f & BARE).all() and low) or ((f & GPL_ID).all() and (ln == 1).all()):
                continue
            if low and l0[g[0]] > 1000 and (ln <= 3).any():
                continue
            if (f & TAG).all() and (ln == 1).all():
                continue
        if (f & CLUE).all():
            continue
        intro = ((f & HAS_UNKNOWN) != 0) & ((f & (INTRO | CLUE)) != 0)
        if intro.any() and not intro.all():
            after = np.flatnonzero(intro)[0]
            if (~intro[after:] & ((f[after:] & HAS_UNKNOWN) == 0)).any():
                g = [k for k, i in zip(g, intro) if not i]
        out.append((int(s[g[0]]), [exprs[k] for k in g]))
    return out
