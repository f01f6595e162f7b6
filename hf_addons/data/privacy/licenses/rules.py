"""ScanCode's license *rules*, matched by our own vectorised code (no ScanCode import at run time).

ScanCode detects licenses by matching ~36,000 rules (notices, references, tags, intros, clues, false
positives; ``licensedcode/data/rules``, CC-BY-4.0) plus its license texts. Many of the ids it reports come
from a rule, not from a license text (``LicenseRef-scancode-proprietary-license`` for a "do not distribute"
clause, ``unknown-license-reference`` for "see LICENSE", ``GPL-1.0-or-later`` for a bare "GNU GPL"), so the
classifier matches the same rules, the way ScanCode's exact ("aho") stage does, then applies ScanCode's
refinement (required phrases; contained and overlapping matches compared on their matched positions;
false-positive rules) and its detection logic (matches grouped by lines; unknown intros, rules naming a
file, false-positive groups and clues judged in ScanCode's order).

Token model (``licensedcode/tokenize.py``): lowercase words ``[^_\\W]+\\+?[^_\\W]*``, ScanCode's stop words
dropped, words ScanCode's dictionary lacks skipped (a match may span them, except in a required phrase or a continuous
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

from hf_addons.data.jit import compiled
from hf_addons.data.privacy.licenses.jit import grow

RULES_FILE = Path(__file__).resolve().parent / "data" / "scancode-rules.npz.xz"
_WORD_OR_NEWLINE = re.compile(r"\r\n?|\n|[^_\W]+\+?[^_\W]*", re.UNICODE)
_MAX_TOKEN = 48  # characters kept of a word (longer ones are junk such as base64; both sides truncate alike)
# rule flags (bit field)
TEXT, NOTICE, REFERENCE, TAG, INTRO, CLUE, FALSE_POSITIVE, CONTINUOUS = (1 << i for i in range(8))
FROM_LICENSE, HAS_UNKNOWN, BARE, GPL_ID, REQUIRED_PHRASE, REFERENCES_FILE = (1 << i for i in range(8, 14))
_ANCHOR = 6  # tokens hashed to find candidate occurrences of a long rule
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible mod 2**64
_LINES_THRESHOLD = 4  # ScanCode's detection.LINES_THRESHOLD: matches this many lines apart form one detection
# ScanCode's CLUES_MATCH_COVERAGE_THR: a detection whose matches all cover at most this (%) is a clue
_CLUES_COVERAGE = 60


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


@dataclass
class Matches:
    """Rule occurrences in a file: rule id and the first and last+1 position among the file's known words."""

    rule: np.ndarray
    start: np.ndarray
    end: np.ndarray
    coverage: np.ndarray | None = None  # matched share of the rule (sequence matches; exact ones: 1)
    # for refinement: the matched positions of each match (a sequence match may skip words of the query;
    # an exact one matches all of ``start:end``) and how many of them are legalese words
    positions: list[np.ndarray] | None = None
    hilen: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> Matches:
        """The matches where the boolean mask ``keep`` is set."""
        pos = None if self.positions is None else [p for p, k in zip(self.positions, keep.tolist()) if k]
        sub = None if self.coverage is None else self.coverage[keep]
        return Matches(self.rule[keep], self.start[keep], self.end[keep], sub, pos,
                       None if self.hilen is None else self.hilen[keep])  # fmt: skip


class RuleIndex:
    """The compiled rules: token ids, metadata and hash tables for exact matching."""

    def __init__(self, path: Path = RULES_FILE):
        if not path.exists():
            raise FileNotFoundError(f"ScanCode rule index missing: {path} (build it with build_rule_index)")
        z = np.load(io.BytesIO(lzma.decompress(path.read_bytes())))
        self.vocab = {t: i for i, t in enumerate(str(z["vocab"]).split("\n"))}
        self.stopwords = frozenset(str(z["stopwords"]).split("\n"))
        # ids >= n_words are stop words: skipped by rule matching
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
        self.identifier_rank = z["identifier_rank"].astype(np.int64)  # by ScanCode's rule identifier
        self.length = np.diff(self.offsets)
        # ScanCode's "license tokens" a rule may start or end with (``models.get_license_tokens``)
        license_ids = self.lookup(np.array(["license", "licence", "licensed"]))
        self.license_words = frozenset(license_ids[license_ids >= 0].tolist())
        rule_of_token = np.repeat(np.arange(len(self.length)), self.length)
        self.high_length = np.bincount(rule_of_token[self.legalese[self.tokens]], minlength=len(self.length))
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
        # one group per short rule length (1 .. _ANCHOR - 1: full hashes), then the long rules (anchor
        # hashes): rule ids sorted by (group, key) and a hash table from (group, key) to their slice
        groups = [np.flatnonzero(self.length == L) for L in range(1, _ANCHOR)]
        groups.append(np.flatnonzero(self.length >= _ANCHOR))
        keys = [self.hash[g] for g in groups[:-1]] + [self.anchor_hash[groups[-1]]]
        orders = [np.argsort(k, kind="stable") for k in keys]
        self.exact_rids = np.concatenate([g[o] for g, o in zip(groups, orders)])
        self.exact_keys = np.concatenate([k[o] for k, o in zip(keys, orders)])
        self.exact_groups = np.repeat(np.arange(_ANCHOR), [len(g) for g in groups])
        self.exact_table = _build_table(self.exact_keys, self.exact_groups)  # (first, count, bits)

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
        if n > len(self.binvpow):
            raise ValueError(f"query of {n} tokens exceeds the hash table ({len(self.binvpow)})")
        with np.errstate(over="ignore"):
            w = (ids.astype(np.uint64) + np.uint64(1)) * self.binvpow[:n]
            q = np.concatenate(([np.uint64(0)], np.cumsum(w, dtype=np.uint64)))
        rule, start = _exact_hits(
            q, self.bpow, *self.exact_table, self.exact_keys, self.exact_groups, self.exact_rids, self.length,
            self.hash,
        )  # fmt: skip
        return Matches(rule, start, start + self.length[rule])


_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the high bits of key * _MIX pick the slot


@compiled
def _slot(key, group, bits):  # pragma: no cover - compiled
    return np.int64(((key + np.uint64(group)) * _MIX) >> np.uint64(64 - bits))


@compiled
def _build_table(keys, groups):  # pragma: no cover - compiled
    """Open addressing over the distinct (group, key) pairs of ``keys`` (sorted within each group): per
    slot the pair's first position in ``keys`` (-1: empty) and how many follow; ``bits``: log2 of size."""
    bits = 4
    while (1 << bits) < 2 * len(keys):
        bits += 1
    first = np.full(1 << bits, -1, dtype=np.int64)
    count = np.zeros(1 << bits, dtype=np.int64)
    mask = (1 << bits) - 1
    for i in range(len(keys)):
        if i and keys[i] == keys[i - 1] and groups[i] == groups[i - 1]:
            continue
        s = _slot(keys[i], groups[i], bits)
        while first[s] >= 0:
            s = (s + 1) & mask
        first[s] = i
        c = 1
        while i + c < len(keys) and keys[i + c] == keys[i] and groups[i + c] == groups[i]:
            c += 1
        count[s] = c
    return first, count, bits


@compiled
def _exact_hits(q, bpow, first, count, bits, keys, groups, rids, length, full_hash):  # pragma: no cover
    """Every (rule, start) occurrence: per group, each window of the query looked up in the table; a long
    rule's anchor hit is kept if its full hash matches. ``q``: prefix sums of ``(t_k + 1) * B**-k``, so a
    window's hash ``(q[a + L] - q[a]) * B**a`` is ``sum (t_j + 1) * B**-j`` over its own positions.
    In group order, then by start, then as the rules are sorted."""
    n = len(q) - 1
    mask = (1 << bits) - 1
    out_rule = np.empty(16, dtype=np.int64)
    out_start = np.empty(16, dtype=np.int64)
    m = 0
    for g in range(_ANCHOR):
        width = g + 1  # the short groups' rule length, the long group's anchor
        for a in range(n - width + 1):
            h = (q[a + width] - q[a]) * bpow[a]
            s = _slot(h, g, bits)
            while first[s] >= 0 and not (keys[first[s]] == h and groups[first[s]] == g):
                s = (s + 1) & mask
            if first[s] < 0:
                continue
            for x in range(first[s], first[s] + count[s]):
                rid = rids[x]
                if g == _ANCHOR - 1:  # a long rule: its anchor matched, check all of it
                    end = a + length[rid]
                    if end > n or (q[end] - q[a]) * bpow[a] != full_hash[rid]:
                        continue
                if m == len(out_rule):
                    out_rule, out_start = grow(out_rule, m + 1), grow(out_start, m + 1)
                out_rule[m], out_start[m] = rid, a
                m += 1
    return out_rule[:m], out_start[:m]


@lru_cache(maxsize=1)
def rule_index() -> RuleIndex:
    return RuleIndex()


def refine_exact(ix: RuleIndex, m: Matches, unknown_before: np.ndarray) -> Matches:
    """ScanCode's refinement of its exact matches (``get_exact_matches``), before the approximate stage
    reads what they cover: matches missing a required phrase (or, for a continuous rule, any part)
    because an unknown word sits inside are dropped, then one pass of :func:`_refine_sets` (false
    positives kept: they have yet to remove what they overlap in the later passes)."""
    m = refine_phrases(ix, m, unknown_before)
    m = Matches(
        m.rule, m.start, m.end, np.ones(len(m.rule)),
        [np.arange(a, b) for a, b in zip(m.start.tolist(), m.end.tolist())], ix.high_length[m.rule],
    )  # fmt: skip
    return _refine_sets(ix, m, n_exact=len(m.rule))[0]


def refine_all(ix: RuleIndex, exact: Matches, approx: Matches | None = None) -> Matches:
    """ScanCode's two final ``refine_matches`` passes over the refined exact matches and the sequence
    matches (``approx``, already checked for required phrases and coverage, see :mod:`.approx`) together;
    matches to false-positive rules, which have by then removed the true-looking matches they overlap,
    are dropped at the end."""
    m, n_exact = exact, len(exact.rule)
    if approx is not None and len(approx.rule):
        m = Matches(
            np.concatenate([m.rule, approx.rule]), np.concatenate([m.start, approx.start]),
            np.concatenate([m.end, approx.end]), np.concatenate([m.coverage, approx.coverage]),
            m.positions + approx.positions, np.concatenate([m.hilen, approx.hilen]),
        )  # fmt: skip
    for _ in range(2):
        m, n_exact = _refine_sets(ix, m, n_exact)
    return m.take((ix.flags[m.rule] & FALSE_POSITIVE) == 0)


def refine(ix: RuleIndex, m: Matches, unknown_before: np.ndarray) -> Matches:
    """The exact matches ``m`` refined as ScanCode refines them when no approximate match is found."""
    return refine_all(ix, refine_exact(ix, m, unknown_before))


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


class _Refiner:
    """ScanCode's ``filter_contained_matches`` / ``filter_overlapping_matches`` / ``restore_non_overlapping``
    (``licensedcode/match.py``) on matches given as sets of matched positions. They compare neighbours
    in ScanCode's order (start, then more legalese words, more words, exact before sequence): a short
    loop over matches, not over tokens."""

    def __init__(self, ix: RuleIndex, m: Matches, n_exact: int):
        self.ix, self.rule = ix, m.rule
        self.qs = [frozenset(p.tolist()) for p in m.positions]
        self.start, self.end = m.start, m.end - 1  # ScanCode's qstart / qend (inclusive)
        self.size = np.array([len(p) for p in m.positions])
        self.hilen = m.hilen
        self.cov = [round(c * 100, 2) for c in m.coverage.tolist()]  # ScanCode's LicenseMatch.coverage()
        self.key = {
            k: (int(m.start[k]), -int(m.hilen[k]), -int(self.size[k]), k >= n_exact)
            for k in range(len(m.rule))
        }
        self.ids: dict[int, set[str]] = {}

    def _licensing_contains(self, a: int, b: int) -> bool:
        for k in (a, b):
            if k not in self.ids:
                self.ids[k] = _ids(self.ix.expression(self.rule[k]))
        return self.ids[b] <= self.ids[a]

    def _ends(self, c: int, x: int) -> bool:
        """ScanCode's rule ``ends_with_license`` (c) and ``starts_with_license`` (x)."""
        ix, t = self.ix, self.ix.tokens
        return bool(
            t[ix.offsets[self.rule[c] + 1] - 1] in ix.license_words
            and t[ix.offsets[self.rule[x]]] in ix.license_words
        )

    def _sweep(self, items: list[int], stop, decide) -> tuple[list[int], list[int]]:
        """ScanCode's pairwise sweep: each match (``c``) against the next ones (``x``) until ``stop(c, x)``;
        ``decide(c, x, items, i)`` names the one that goes ("c", "x" or None). Kept and discarded."""
        items, out = sorted(items, key=self.key.__getitem__), []
        i = 0
        while i < len(items) - 1:
            j = i + 1
            while j < len(items):
                c, x = items[i], items[j]
                if stop(c, x):
                    break
                drop = decide(c, x, items, i)
                if drop == "x":
                    out.append(items.pop(j))
                    continue
                if drop == "c":
                    out.append(items.pop(i))
                    i -= 1
                    break
                j += 1
            i += 1
        return items, out

    def contained(self, items: list[int]) -> tuple[list[int], list[int]]:
        """``filter_contained_matches``: of equal position sets the better covered stays, a subset goes."""

        def decide(c: int, x: int, items: list[int], i: int) -> str | None:
            if self.qs[c] == self.qs[x]:
                return "x" if self.cov[c] >= self.cov[x] else "c"
            return "x" if self.qs[x] <= self.qs[c] else "c" if self.qs[c] <= self.qs[x] else None

        return self._sweep(items, lambda c, x: self.end[x] > self.end[c], decide)

    def overlapping(self, items: list[int]) -> tuple[list[int], list[int]]:
        """``filter_overlapping_matches``: ScanCode's checks in its order, the first that holds decides."""
        size, hi, fp = self.size, self.hilen, FALSE_POSITIVE

        def decide(c: int, x: int, items: list[int], i: int) -> str | None:
            ov = len(self.qs[c] & self.qs[x])
            if not ov or self.ix.flags[self.rule[c]] & self.ix.flags[self.rule[x]] & fp:
                return None
            rx, rc = ov / size[x], ov / size[c]
            c_ge = size[c] >= size[x] and hi[c] >= hi[x]
            c_le = size[c] <= size[x] and hi[c] <= hi[x]
            surround_x = self.start[c] <= self.start[x] and self.end[c] >= self.end[x]
            surround_c = self.start[x] <= self.start[c] and self.end[x] >= self.end[c]
            if rx >= 0.9 and size[c] >= size[x]:
                return "x"
            if rc >= 0.9 and size[c] <= size[x]:
                return "c"
            if rx >= 0.7 and c_ge:
                return "x"
            if rc >= 0.7 and c_le:
                return "c"
            if rx >= 0.4 and c_ge and self._licensing_contains(c, x):
                return "x"
            if rx >= 0.4 and size[x] == 2 and size[c] >= 4 and hi[c] >= hi[x] and self._ends(c, x):
                return "x"
            if rx >= 0.4 and c_le and self._licensing_contains(x, c):
                return "c"
            if rc >= 0.4 and c_ge and self._licensing_contains(c, x):
                return "x"
            if rc >= 0.4 and c_le and self._licensing_contains(x, c):
                return "c"
            if rx >= 0.1 and surround_x and c_ge and self._licensing_contains(c, x):
                return "x"
            if rc >= 0.1 and surround_c and c_le and self._licensing_contains(x, c):
                return "c"
            if i:  # current mostly made of the ends of its two neighbours
                p = items[i - 1]
                if not self.qs[p] & self.qs[x]:
                    cp = len(self.qs[c] & self.qs[p])
                    if cp and cp + ov >= 0.9 * size[c]:
                        return "c"
            return None

        return self._sweep(items, lambda c, x: self.start[x] > self.end[c], decide)

    def restore(self, kept: list[int], discarded: list[int]) -> list[int]:
        taken = frozenset().union(*(self.qs[k] for k in kept))
        return [d for d in discarded if not self.qs[d] & taken]


def _refine_sets(ix: RuleIndex, m: Matches, n_exact: int) -> tuple[Matches, int]:
    """One pass of ScanCode's contained, overlapping, restore and contained filters on the matched position
    sets of ``m`` (its first ``n_exact`` matches exact ones, then sequence matches): the matches kept, in
    their order, and how many of them are exact."""
    if len(m.rule) < 2:
        return m, n_exact
    r = _Refiner(ix, m, n_exact)
    # ScanCode's merge_matches hands the filters its matches by rule identifier (then start, longer
    # legalese, longer, exact first): their stable sorts keep that order among ties
    seq = np.arange(len(m.rule)) >= n_exact
    first = np.lexsort((seq, -r.size, -m.hilen, m.start, ix.identifier_rank[m.rule])).tolist()
    items, gone_contained = r.contained(first)
    items, gone_overlapping = r.overlapping(items)
    items += r.restore(items, gone_contained)
    items += r.restore(items, gone_overlapping)
    items, _ = r.contained(items)
    keep = np.zeros(len(m.rule), dtype=bool)
    keep[items] = True
    return m.take(keep), int(keep[:n_exact].sum())


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


_FREE_UNKNOWN = "LicenseRef-scancode-free-unknown"


def _intro_like(flags: np.ndarray, exprs: list[str]) -> np.ndarray:
    """ScanCode's intro-like matches: intros, clues and ``free-unknown`` notices."""
    return ((flags & (INTRO | CLUE)) != 0) | np.array([x == _FREE_UNKNOWN for x in exprs])


def _unknown_intro_before_detection(flags: np.ndarray, full: np.ndarray, like: np.ndarray) -> bool:
    """ScanCode's ``has_unknown_intro_before_detection`` (``like``: :func:`_intro_like`): an "unknown"
    intro-like match followed by a fully matched proper one, or any fully matched intro-like match that can
    go without emptying the group."""
    unknown = (flags & HAS_UNKNOWN) != 0
    intro = unknown & like
    if len(flags) == 1 or not intro.any() or intro.all():
        return False
    later = np.arange(len(flags)) > np.flatnonzero(intro)[0]
    if (later & ~intro & full & ~unknown).any():
        return True
    # else whenever dropping the fully matched intros changes the group (ScanCode then tests that no match
    # left has a coverage above 100%, which always holds)
    drop = like & full
    return bool(drop.any() and not drop.all())


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
    coverage: np.ndarray | None = None,
) -> list[tuple[int, list[str]]]:
    """ScanCode's detections from refined matches: ``[(first token, [expressions])]`` in file order.

    A match is its token span ``s:e`` in ``tokens``, first and last line, rule flags, relevance, rule
    length and expression (license texts and SPDX tags found apart come in as matches too, fully
    relevant; ``coverage`` of each match, 1 when not given). Matches whose lines are at most 4 apart form one detection (an intro joins the next match;
    a clue stands alone). Then ScanCode's ``analyze_detection`` in its order: an "unknown" intro followed
    by a proper match goes, with the other fully matched intros, clues and ``free-unknown`` notices; a detection with a rule that names a file ("see
    COPYING") is kept whole; a detection is dropped as ScanCode's ``is_false_positive`` says (no copyright
    word in the matched text, not all rules fully relevant, and: one low-relevance "bare" rule, only
    one-word GPL rules, or only one-word license tags), when it is made of license clues only, and when
    every match covers at most 60% of its rule and none names an unknown license (ScanCode's low-quality
    match fragments, which it reports as clues)."""
    if not len(s):
        return []
    # percent covered, as ScanCode's LicenseMatch.coverage()
    pct = np.full(len(s), 100.0) if coverage is None else np.round(coverage * 100, 2)
    order = np.lexsort((e, s))
    s, e, l0, l1, flags, pct = s[order], e[order], l0[order], l1[order], flags[order], pct[order]
    full = pct >= 100
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
    for g in groups:  # ScanCode's analyze_detection, in its order
        f, rel, ln = flags[g], relevance[g], length[g]
        like = _intro_like(f, [exprs[k] for k in g])
        if _unknown_intro_before_detection(f, full[g], like):  # the fully matched intros go
            kept = [k for k, i in zip(g, like & full[g]) if not i] or g
            out.append((int(s[g[0]]), [exprs[k] for k in kept]))
            continue
        if (f & REFERENCES_FILE).any():  # a rule that names a file ("see COPYING"): kept whole
            out.append((int(s[g[0]]), [exprs[k] for k in g]))
            continue
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
        if not (f & HAS_UNKNOWN).any() and (pct[g] <= _CLUES_COVERAGE).all():
            continue  # ScanCode's low-quality match fragments: reported as clues, not detections
        out.append((int(s[g[0]]), [exprs[k] for k in g]))
    return out
