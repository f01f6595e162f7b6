"""ScanCode's approximate ("seq") stage over all its rules, with our own vectorised code.

What the exact stage leaves uncovered (a reworded notice, a partial license text, a long rule variant) is
found as ScanCode finds it (``licensedcode/index.py`` ``get_approximate_matches``, ``match_set.py``,
``match_seq.py``, ``seq.py``):

1. A near-duplicate pass first: rules resembling the whole file (resemblance >= 0.8), aligned over every
   word of it (ScanCode's whole-file run keeps the positions it had before long texts were subtracted:
   EUPL-1.1 plus its appendix is one rule). Then the file is cut into *runs* at 15 lines without a
   legalese word (``query.py``); a run is aligned when >= 3 of its legalese words lie outside exact
   matches (ScanCode, and ``exhaustive``: one), leaving out the words of a long license text matched
   exactly and tag lines.
2. Candidates per run: set, then multiset, resemblance and containment of the run's words with every
   approximately matchable rule (not a false positive, required phrase or continuous rule, and with a
   legalese word: ScanCode decides this before it marks rules tiny or small, so those are in), each
   rule's thresholds applied (minimum matched length, legalese words, containment). All 30,000 such rules
   are scored at once: popcounts of a bitset of the 512 most common words per rule, plus one gather of
   the rarer words' postings and ``bincount``. Ranked by ScanCode's score vectors (rounded, then exact),
   one rule per duplicate group; the top 70 are kept, the first 5 (``exhaustive``: 70) that can still
   reach their minimum coverage are aligned.
3. Alignment: ScanCode's ``match_blocks`` -- the longest common run of legalese words (diagonal runs of
   the pairs of equal legalese words, found once with numpy and clipped to each sub-rectangle; small
   rectangles in plain Python), extended over any equal words, then the same before and after it --
   and again on the rest of the run after the last block, until no block is found.
4. Blocks of one rule at most ``min(len // 2, 50)`` words apart merge into one match; a match is kept if it
   passes ScanCode's filters for sequence matches: required phrases whole and contiguous, density (matched
   words over the span they cover in the query and in the rule), the rule's minimum coverage, minimum
   matched and legalese lengths, small rules >= 80% covered and not scattered over more lines than words.

The exact and approximate matches then go through the same refinement (:func:`.rules.refine_all`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hf_addons.data.privacy.licenses import rules as R

MAX_CANDIDATES = 70  # ScanCode's MAX_CANDIDATES per query run (ranked, duplicates dropped)
# How much of ScanCode's alignment work is done. ScanCode aligns all 70 candidates of every run with one
# legalese word left uncovered by exact matches (``EXHAUSTIVE``); by default we align the first 5 and only
# runs with 3 such words, about 3x faster. Agreement with ScanCode (docs/data-privacy.md), Debian copyright
# files: 0.77 by default, 0.97 exhaustive on the development spread (held out: 0.74, 0.98).
ALIGNED_CANDIDATES = 5
MIN_UNCOVERED_LEGALESE = 3  # a run is aligned if this many legalese words lie outside exact matches
EXHAUSTIVE = {"aligned": MAX_CANDIDATES, "min_uncovered": 1}
MAX_NEAR_DUPES = 10  # ScanCode's MAX_NEAR_DUPE_CANDIDATES for the whole file
_HIGH_RESEMBLANCE = 0.8
_RUN_BREAK_LINES = 15  # ScanCode's text_line_threshold
_MAX_DIST = 50  # licensedcode.MAX_DIST
_MIN_MATCH_LENGTH, _MIN_MATCH_HIGH_LENGTH, _SMALL_RULE = 4, 3, 15
_SMALL_RECT = 64  # rectangles reached by at most this many runs are aligned in plain Python
_SHORT = 16  # words an extension steps through one by one before it is vectorised
COMMON_WORDS = 512  # words scored by bitsets instead of postings (a multiple of 64)


@dataclass
class ApproxIndex:
    """Postings of the approximately matchable rules and their ScanCode thresholds (row = one such rule)."""

    rids: np.ndarray  # row -> rule id
    indptr: np.ndarray  # word id -> slice of rows/counts
    rows: np.ndarray
    counts: np.ndarray
    length: np.ndarray
    length_u: np.ndarray
    min_len: np.ndarray
    min_high: np.ndarray
    min_len_u: np.ndarray
    min_high_u: np.ndarray
    min_cov: np.ndarray  # percent
    containment: np.ndarray  # ScanCode's _minimum_containment: minimum coverage (stored or computed) / 100
    is_small: np.ndarray
    # the COMMON_WORDS most frequent words: a presence bitset per rule (popcounts give the set
    # intersections) and dense counts (multiset intersections of the few rules ranked); the postings
    # above hold the other words only
    col_of_word: np.ndarray  # word id -> column among the common words, -1 if not common
    common_bits: np.ndarray  # (COMMON_WORDS // 64, rows) uint64: one contiguous row per 64 words
    common_counts: np.ndarray  # (rows, COMMON_WORDS) uint8 (a count above 255 is clipped: a few words off
    # in the multiset score of a long text, which ranks candidates only)
    common_legalese: np.ndarray  # (COMMON_WORDS,) bool
    common_weights: np.ndarray  # (COMMON_WORDS, 2) float32: ones, legalese


def build(ix: R.RuleIndex) -> ApproxIndex:
    """Thresholds as ScanCode's ``compute_thresholds_occurences`` / ``_unique``; postings from one sort."""
    n_rules, n_words = len(ix.length), ix.n_words
    rule_of = np.repeat(np.arange(n_rules), ix.length)
    high_tok = ix.legalese[ix.tokens]
    length = ix.length
    high_len = np.bincount(rule_of[high_tok], minlength=n_rules)
    f = ix.flags
    weak = high_len == 0
    small = length < _SMALL_RULE
    # ScanCode's index tests ``is_approx_matchable`` before ``compute_thresholds`` sets ``is_small`` and
    # ``is_tiny``, so tiny rules and small references / tags are approximately matched too
    matchable = ~(((f & (R.FALSE_POSITIVE | R.REQUIRED_PHRASE | R.CONTINUOUS)) != 0) | weak)
    keys, cnt = np.unique(ix.tokens * n_rules + rule_of, return_counts=True)  # sorted by word, then rule
    word, rule = keys // n_rules, keys % n_rules
    length_u = np.bincount(rule, minlength=n_rules)
    high_u = np.bincount(rule[ix.legalese[word]], minlength=n_rules)
    # occurrences (ScanCode's compute_thresholds_occurences)
    stored = ix.min_coverage
    cov = np.where(stored > 0, stored, np.select([length < 3, length < 10, length < 30], [100, 80, 50], 0))
    full = cov == 100
    min_len = np.select(
        [full, length < 3, length < 10, length < 30, length < 200],
        [length, length, length, length // 2, _MIN_MATCH_LENGTH],
        length // 10,
    )
    min_high = np.select(
        [full, length < 10, length < 200],
        [high_len, high_len, np.minimum(high_len, _MIN_MATCH_HIGH_LENGTH)],
        high_len // 10,
    )
    # unique tokens (compute_thresholds_unique)
    highu_half = np.where(high_u // 2 > 0, high_u // 2, high_u)
    min_len_u = np.select(
        [full, length > 200, length < 5, length < 10, length < 20],
        [length_u, length // 10, length_u, np.where(length_u < 2, length_u, length_u - 1), high_u],
        _MIN_MATCH_LENGTH,
    )
    min_high_u = np.select(
        [full, length > 200, length < 10, length < 20],
        [high_u, high_u // 10, high_u, high_u],
        np.minimum(highu_half, _MIN_MATCH_HIGH_LENGTH),
    )
    row_of = np.full(n_rules, -1, dtype=np.int64)
    rids = np.flatnonzero(matchable)
    row_of[rids] = np.arange(len(rids))
    keep = matchable[rule]
    word, rule, cnt = word[keep], rule[keep], cnt[keep]
    freq = np.bincount(word, minlength=n_words)
    common = np.argsort(-freq, kind="stable")[:COMMON_WORDS]
    col_of_word = np.full(n_words, -1, dtype=np.int64)
    col_of_word[common] = np.arange(len(common))
    col = col_of_word[word]
    counts = np.zeros((len(rids), COMMON_WORDS), dtype=np.uint8)
    counts[row_of[rule[col >= 0]], col[col >= 0]] = np.minimum(cnt[col >= 0], 255)
    bits = np.ascontiguousarray(np.packbits(counts > 0, axis=1, bitorder="little").view(np.uint64).T)
    common_legalese = np.zeros(COMMON_WORDS, dtype=bool)
    common_legalese[: len(common)] = ix.legalese[common]
    rare = col < 0
    word, rule, cnt = word[rare], rule[rare], cnt[rare]
    indptr = np.searchsorted(word, np.arange(n_words + 1))
    return ApproxIndex(
        col_of_word=col_of_word, common_bits=bits, common_counts=counts, common_legalese=common_legalese,
        common_weights=np.stack([np.ones(COMMON_WORDS), common_legalese], axis=1).astype(np.float32),
        rids=rids, indptr=indptr, rows=row_of[rule], counts=cnt.astype(np.int64),
        length=length[rids], length_u=length_u[rids], min_len=min_len[rids], min_high=min_high[rids],
        min_len_u=min_len_u[rids], min_high_u=min_high_u[rids], min_cov=cov[rids],
        containment=cov[rids] / 100.0, is_small=small[rids],
    )  # fmt: skip


@lru_cache(maxsize=1)
def approx_index() -> ApproxIndex:
    return build(R.rule_index())


def query_runs(ids: np.ndarray, line: np.ndarray, legalese: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Run start positions over the known words ``ids`` (with their ``line``): a new run begins at the
    first word after at least 15 lines without a legalese word (empty, digits-only and stop-word-only lines
    included), as ScanCode's ``_tokenize_and_build_runs`` does for text."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    n_lines = int(line[-1]) + 1
    good = np.zeros(n_lines, dtype=bool)
    not_digit = np.zeros(n_lines, dtype=bool)
    good[line[legalese[ids]]] = True
    not_digit[line[~digits[ids]]] = True
    good &= not_digit
    idx = np.arange(n_lines)
    last_good = np.maximum.accumulate(np.where(good, idx, -1))
    streak_before = np.concatenate(([0], idx[:-1] - last_good[:-1]))  # non-good lines just before a line
    first_of_line = np.concatenate(([True], line[1:] != line[:-1]))
    starts = np.flatnonzero(first_of_line & (streak_before[line] >= _RUN_BREAK_LINES))
    return np.unique(np.concatenate(([0], starts)))


@dataclass
class RunScores:
    """Per approximately matchable rule: words shared with a run as a set (all, legalese), the rarer
    words' multiset share, and what :meth:`multiset` needs for the common words of the rules ranked."""

    inter_u: np.ndarray
    high_u: np.ndarray
    rare_m: np.ndarray
    rare_high_m: np.ndarray
    q_common: np.ndarray  # the run's count of each common word
    q_unique: int
    q_total: int

    def multiset(self, ax: ApproxIndex, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Multiset intersections (all words, legalese words) of the rules ``rows``."""
        both = np.minimum(ax.common_counts[rows], self.q_common[None, :]).astype(np.float32)
        sums = both @ ax.common_weights  # (rows, 2): all common words, legalese ones (exact in float32)
        return self.rare_m[rows] + sums[:, 0], self.rare_high_m[rows] + sums[:, 1]


def run_scores(ax: ApproxIndex, ix: R.RuleIndex, q: np.ndarray) -> RunScores | None:
    """Scores of every rule against a run's words ``q``: popcounts of the common-word bitsets, plus one
    gather of the rarer words' postings and ``bincount``s."""
    if not len(q):
        return None
    uq, qc = np.unique(q, return_counts=True)
    col = ax.col_of_word[uq]
    is_c = col >= 0
    q_common = np.zeros(COMMON_WORDS, dtype=np.uint8)
    q_common[col[is_c]] = np.minimum(qc[is_c], 255)
    qbits = np.packbits(q_common > 0, bitorder="little").view(np.uint64)
    hbits = np.packbits((q_common > 0) & ax.common_legalese, bitorder="little").view(np.uint64)
    inter_u = np.bitwise_count(ax.common_bits & qbits[:, None]).sum(0, dtype=np.int64)
    high_u = np.bitwise_count(ax.common_bits & hbits[:, None]).sum(0, dtype=np.int64)
    n_rows = len(ax.rids)
    rare_m, rare_high_m = np.zeros(n_rows), np.zeros(n_rows)
    uq, qc = uq[~is_c], qc[~is_c]
    order = np.argsort(~ix.legalese[uq], kind="stable")  # legalese words' postings first
    uq, qc = uq[order], qc[order]
    lo, hi = ax.indptr[uq], ax.indptr[uq + 1]
    n = hi - lo
    total = int(n.sum())
    if total:
        n_high = int(n[ix.legalese[uq]].sum())
        idx = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(total)
        rows = ax.rows[idx]
        both = np.minimum(np.repeat(qc, n), ax.counts[idx])
        inter_u += np.bincount(rows, minlength=n_rows)
        high_u += np.bincount(rows[:n_high], minlength=n_rows)
        rare_m = np.bincount(rows, weights=both, minlength=n_rows)
        rare_high_m = np.bincount(rows[:n_high], weights=both[:n_high], minlength=n_rows)
    return RunScores(inter_u, high_u, rare_m, rare_high_m, q_common, int(is_c.sum()) + len(uq), len(q))


def _round1(x: np.ndarray) -> np.ndarray:
    """Python's ``round(x, 1)``, which ScanCode ranks by, vectorised: ``np.round`` scales by 10 first and
    so rounds 0.35 (stored as 0.34999...) up, where Python rounds the exact value, down. Near a half the
    exact value ``m * 2**e`` is compared with the decimal midpoint ``(2k + 1) / 20`` in integers."""
    y = x * 10.0
    out = np.rint(y) / 10.0
    k = np.floor(y)
    near = np.flatnonzero(np.abs(y - k - 0.5) < 1e-6)
    if len(near):
        m, e = np.frexp(x[near])
        lhs = (m * 2.0**53).astype(np.int64) * 20  # 20 * x * 2**(53 - e), exactly
        kk = k[near].astype(np.int64)
        rhs = (2 * kk + 1) << (53 - e).astype(np.int64)
        up = (lhs > rhs) | ((lhs == rhs) & (kk % 2 == 1))
        out[near] = (kk + up) / 10.0
    return out


def candidates(ax: ApproxIndex, ix: R.RuleIndex, sc: RunScores | None, near_dupe: bool = False) -> np.ndarray:
    """Rows of the top candidate rules for a run (its :func:`run_scores`), ranked as ScanCode's
    ``compute_candidates``: set scores filter and rank, multiset scores re-rank the top 700."""
    if sc is None:
        return np.zeros(0, dtype=np.int64)
    inter_u, high_u = sc.inter_u, sc.high_u

    def scores(inter, q_len, r_len):
        res = inter / (q_len + r_len - inter)
        cont = inter / r_len
        return res, cont

    ok = (high_u > 0) & (high_u >= ax.min_high_u) & (inter_u >= ax.min_len_u)
    cand = np.flatnonzero(ok)
    res_u, cont_u = scores(inter_u[cand], sc.q_unique, ax.length_u[cand])
    ok = (ax.containment[cand] == 0) | (cont_u >= ax.containment[cand])
    if near_dupe:
        ok &= res_u >= _HIGH_RESEMBLANCE
    cand, res_u, cont_u = cand[ok], res_u[ok], cont_u[ok]
    if not len(cand):
        return cand

    def rank(c, res, cont, inter):  # ScanCode's (rounded, full) ScoresVector, sorted descending
        hr = (res[c] >= _HIGH_RESEMBLANCE).astype(np.int64)
        keys = (
            -c,  # last tie-break: higher rule id first (ScanCode sorts the tuples in reverse)
            -inter[c], -res[c] ** 2, -cont[c], -hr,
            -_round1(inter[c] / 20), -_round1(res[c] ** 2), -_round1(cont[c]),
            -(_round1(res[c]) >= _HIGH_RESEMBLANCE).astype(np.int64),
        )  # fmt: skip
        return c[np.lexsort(keys)]

    full_res, full_cont = np.zeros(len(ax.rids)), np.zeros(len(ax.rids))
    full_res[cand], full_cont[cand] = res_u, cont_u
    cand = rank(cand, full_res, full_cont, inter_u)[: MAX_CANDIDATES * 10]
    res_m, cont_m = np.zeros(len(ax.rids)), np.zeros(len(ax.rids))
    inter_m, high_m = np.zeros(len(ax.rids)), np.zeros(len(ax.rids))
    inter_m[cand], high_m[cand] = sc.multiset(ax, cand)
    res_m[cand], cont_m[cand] = scores(inter_m[cand], sc.q_total, ax.length[cand])
    ok = (high_m[cand] >= ax.min_high[cand]) & (inter_m[cand] >= ax.min_len[cand]) & (high_m[cand] > 0)
    ok &= (ax.containment[cand] == 0) | (cont_m[cand] >= ax.containment[cand])
    if near_dupe:
        ok &= res_m[cand] >= _HIGH_RESEMBLANCE
    cand = rank(cand[ok], res_m, cont_m, inter_m)
    if not len(cand):
        return cand
    # one per duplicate group: same expression, rounded scores and length (the best ranked one stays)
    group = np.stack(
        [
            ix.expr[ax.rids[cand]],
            _round1(res_m[cand]) >= _HIGH_RESEMBLANCE,
            np.rint(_round1(cont_m[cand]) * 10),
            np.rint(_round1(res_m[cand] ** 2) * 10),
            np.rint(_round1(inter_m[cand] / 20) * 10),
            ax.length[cand],
        ],
        axis=1,
    ).astype(np.int64)
    _, first = np.unique(group, axis=0, return_index=True)
    return cand[np.sort(first)][: MAX_NEAR_DUPES if near_dupe else MAX_CANDIDATES]


def _diagonal_runs(pi: np.ndarray, pj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of consecutive pairs on one diagonal: (query start, rule start, length), found once;
    a sub-rectangle's runs are these clipped to it."""
    d = pj - pi
    order = np.lexsort((pi, d))
    di, ii, jj = d[order], pi[order], pj[order]
    brk = np.concatenate(([True], (di[1:] != di[:-1]) | (ii[1:] != ii[:-1] + 1)))
    start = np.flatnonzero(brk)
    return ii[start], jj[start], np.diff(np.append(start, len(ii)))


def _longest(ri, rj, rk, qlo, qhi, rlo, rhi) -> tuple[int, int, int]:
    """Longest run inside the rectangle (earliest in the query, then in the rule); size 0 if none."""
    lo = np.maximum(np.maximum(ri, qlo), ri + (rlo - rj))  # clipped start, in query positions
    hi = np.minimum(np.minimum(ri + rk, qhi), ri + (rhi - rj))
    size = hi - lo
    if not len(size) or size.max() <= 0:
        return 0, 0, 0
    best = np.lexsort((rj + (lo - ri), lo, -size))[0]
    return int(lo[best]), int(rj[best] + lo[best] - ri[best]), int(size[best])


def _extend(a, b, matchable, i, j, k, alo, ahi, blo, bhi, py) -> tuple[int, int, int]:
    """Extend a block over equal words (legalese or not) on both sides, as ScanCode's ``extend_match``:
    word by word for the first few (most extensions stop there) on ``py``, the same three sequences as
    Python lists, then vectorised."""
    al, bl, ml = py
    step = 0
    while i > alo and j > blo and step < _SHORT:
        if al[i - 1] != bl[j - 1] or not ml[i - 1]:
            break
        i, j, k, step = i - 1, j - 1, k + 1, step + 1
    else:
        m = min(i - alo, j - blo)
        if m > 0:
            eq = (a[i - m : i] == b[j - m : j]) & matchable[i - m : i]
            stop = np.flatnonzero(~eq[::-1])
            back = int(stop[0]) if len(stop) else m
            i, j, k = i - back, j - back, k + back
    step = 0
    while i + k < ahi and j + k < bhi and step < _SHORT:
        if al[i + k] != bl[j + k] or not ml[i + k]:
            break
        k, step = k + 1, step + 1
    else:
        m = min(ahi - (i + k), bhi - (j + k))
        if m > 0:
            eq = (a[i + k : i + k + m] == b[j + k : j + k + m]) & matchable[i + k : i + k + m]
            stop = np.flatnonzero(~eq)
            k += int(stop[0]) if len(stop) else m
    return i, j, k


def _take(a, b, matchable, py, block, rect, runs, out: list, queue: list) -> None:
    """The longest block of a rectangle, extended, goes to ``out``; the rectangles before and after it go
    to ``queue`` with the runs that reached this one."""
    qlo, qhi, rlo, rhi = rect
    i, j, k = _extend(a, b, matchable, *block, qlo, qhi, rlo, rhi, py)
    out.append((i, j, k))
    if qlo < i and rlo < j:
        queue.append((qlo, i, rlo, j, runs))
    if i + k < qhi and j + k < rhi:
        queue.append((i + k, qhi, j + k, rhi, runs))


def _blocks_small(runs, a, b, matchable, py, qlo, qhi, rlo, rhi, out: list) -> None:
    """The recursion of :func:`match_blocks` over a rectangle reached by few runs, in plain Python (numpy's
    per-call cost dominates there): the same longest run (clipped), tie-breaks and extension."""
    queue = [(qlo, qhi, rlo, rhi, runs)]
    while queue:
        qlo, qhi, rlo, rhi, rs = queue.pop()
        bk = bi = bj = 0
        sub = []
        for i, j, k in rs:  # the run clipped to the rectangle (inline comparisons: the hot loop)
            lo = i if i > qlo else qlo
            if i + rlo - j > lo:
                lo = i + rlo - j
            hi = i + k if i + k < qhi else qhi
            if i + rhi - j < hi:
                hi = i + rhi - j
            size = hi - lo
            if size <= 0:
                continue
            sub.append((i, j, k))
            jj = j + lo - i
            if size > bk or (size == bk and (lo < bi or (lo == bi and jj < bj))):
                bk, bi, bj = size, lo, jj
        if bk:
            _take(a, b, matchable, py, (bi, bj, bk), (qlo, qhi, rlo, rhi), sub, out, queue)


def _sorted_legalese(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A rule's legalese positions sorted by word id, and those words."""
    pos = np.flatnonzero(R.rule_index().legalese[b])
    order = pos[np.argsort(b[pos], kind="stable")]
    return order, b[order]


@lru_cache(maxsize=4096)
def _sorted_legalese_of(rid: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_sorted_legalese` of rule ``rid``, kept for the rules met recently."""
    ix = R.rule_index()
    return _sorted_legalese(ix.tokens[ix.offsets[rid] : ix.offsets[rid + 1]])


def legalese_runs(a, b, alo, ahi, high_a, rid: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The diagonal runs of equal legalese words of query ``a[alo:ahi]`` (``high_a``: its matchable legalese
    positions, the anchors) and rule ``b``: found once per candidate and run, then clipped to each
    rectangle :func:`runs_blocks` looks into."""
    pos = np.flatnonzero(high_a[alo:ahi]) + alo
    if not len(pos):
        return None
    order, bs = _sorted_legalese_of(rid) if rid >= 0 else _sorted_legalese(b)
    lo = np.searchsorted(bs, a[pos], "left")
    n = np.searchsorted(bs, a[pos], "right") - lo
    if not n.sum():
        return None
    pi = np.repeat(pos, n)
    pj = order[np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())]
    return _diagonal_runs(pi, pj)


def runs_blocks(runs, a, b, alo, ahi, matchable, py) -> list[tuple[int, int, int]]:
    """ScanCode's ``seq.match_blocks`` over ``a[alo:ahi]`` given the :func:`legalese_runs`:
    ``[(query pos, rule pos, size)]`` increasing in both, adjacent blocks merged. ``py``: ``a``, ``b`` and
    ``matchable`` as Python lists."""
    ri, rj, rk = runs
    blocks: list[tuple[int, int, int]] = []
    queue = [(alo, ahi, 0, len(b), np.flatnonzero(ri + rk > alo))]
    while queue:
        qlo, qhi, rlo, rhi, sel = queue.pop()
        # runs that reach into the rectangle (a run is clipped to it in _longest)
        sel = sel[(ri[sel] < qhi) & (ri[sel] + rk[sel] > qlo) & (rj[sel] < rhi) & (rj[sel] + rk[sel] > rlo)]
        if len(sel) <= _SMALL_RECT:
            small = list(zip(ri[sel].tolist(), rj[sel].tolist(), rk[sel].tolist()))
            _blocks_small(small, a, b, matchable, py, qlo, qhi, rlo, rhi, blocks)
            continue
        block = _longest(ri[sel], rj[sel], rk[sel], qlo, qhi, rlo, rhi)
        if block[2]:
            _take(a, b, matchable, py, block, (qlo, qhi, rlo, rhi), sel, blocks, queue)
    blocks.sort()
    merged: list[list[int]] = []
    for i, j, k in blocks:  # one step per block
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1][2] += k
        else:
            merged.append([i, j, k])
    return [(i, j, k) for i, j, k in merged]


def match_blocks(a, b, alo, ahi, high_a, matchable, rid: int = -1) -> list[tuple[int, int, int]]:
    """ScanCode's ``seq.match_blocks`` of query ``a[alo:ahi]`` and rule ``b`` (see :func:`runs_blocks`)."""
    runs = legalese_runs(a, b, alo, ahi, high_a, rid)
    if runs is None:
        return []
    return runs_blocks(runs, a, b, alo, ahi, matchable, (a.tolist(), b.tolist(), matchable.tolist()))


@lru_cache(maxsize=4096)
def _tokens_list(rid: int) -> list[int]:
    """Rule ``rid``'s words as a Python list, kept for the rules met recently."""
    ix = R.rule_index()
    return ix.tokens[ix.offsets[rid] : ix.offsets[rid + 1]].tolist()


@dataclass
class SeqMatch:
    rid: int
    blocks: list[tuple[int, int, int]]  # query pos, rule pos, size

    @property
    def start(self) -> int:
        return self.blocks[0][0]

    @property
    def end(self) -> int:
        return self.blocks[-1][0] + self.blocks[-1][2]

    @property
    def size(self) -> int:
        return sum(k for _, _, k in self.blocks)

    def positions(self) -> np.ndarray:
        """The matched query positions."""
        return np.concatenate([np.arange(q, q + k) for q, _, k in self.blocks])


def _chains(rid: int, blocks: list[tuple[int, int, int]], a, legalese, length: int) -> list[SeqMatch]:
    """Blocks as ScanCode keeps them (two words or more, or one legalese word) merged per rule while the
    gaps in the query and in the rule are at most ``min(len // 2, 50)`` words (``merge_matches``)."""
    maxd = min(length // 2 or 1, _MAX_DIST)
    out: list[SeqMatch] = []
    cur: list[tuple[int, int, int]] = []
    for i, j, k in blocks:  # one step per block
        if k == 1 and not legalese[a[i]]:
            continue
        if cur and (i - (cur[-1][0] + cur[-1][2] - 1) > maxd or j - (cur[-1][1] + cur[-1][2] - 1) > maxd):
            out.append(SeqMatch(rid, cur))
            cur = []
        cur.append((i, j, k))
    if cur:
        out.append(SeqMatch(rid, cur))
    return out


@lru_cache(maxsize=4096)
def _legalese_before(rid: int) -> list[int]:
    """Legalese words of rule ``rid`` before each position (prefix counts), for the recently met rules."""
    ix = R.rule_index()
    b = ix.tokens[ix.offsets[rid] : ix.offsets[rid + 1]]
    return [0] + np.cumsum(ix.legalese[b]).tolist()


def _valid(ix: R.RuleIndex, ax_row: dict, m: SeqMatch, ub: list[int], line: list[int]) -> bool:
    """ScanCode's filters for a sequence match (required phrases, spurious, minimum coverage, too short,
    small rules scattered on too many lines); ``ub`` (unknown words before each position) and ``line`` as
    Python lists."""
    bl, rid = m.blocks, m.rid
    qs, qe = bl[0][0], bl[-1][0] + bl[-1][2]  # exclusive end
    is_, ie = bl[0][1], bl[-1][1] + bl[-1][2]
    mlen = m.size
    hb = _legalese_before(rid)
    hilen = sum(hb[j + k] - hb[j] for _, j, k in bl)
    r0, r1 = int(ix.req_offsets[rid]), int(ix.req_offsets[rid + 1])
    for s, e in ix.req[
        r0:r1
    ].tolist():  # a required phrase lies whole inside one block, no unknown word in it
        inb = next(((i, j) for i, j, k in bl if j <= s and j + k >= e), None)
        if inb is None:
            return False
        q0 = inb[0] + s - inb[1]
        if ub[q0 + (e - s) - 1] - ub[q0] > 0:
            return False
    qmag = (qe - qs) + ub[qe - 1] - ub[qs]
    qd, idn = mlen / qmag, mlen / (ie - is_)
    if (
        (mlen < 10 and min(qd, idn) < 0.1)
        or (mlen < 15 and min(qd, idn) < 0.2)
        or (mlen < 20 and hilen < 5 and min(qd, idn) < 0.3)
        or (mlen < 30 and hilen < 8 and min(qd, idn) < 0.4)
        or min(qd, idn) < 0.4
    ):
        return False
    coverage = 100 * mlen / ax_row["length"]
    if coverage < ax_row["min_cov"]:
        return False
    if mlen < ax_row["min_len"] or hilen < ax_row["min_high"]:
        return False
    if ax_row["is_small"]:
        if coverage < 80:
            return False
        tag = 2 if ix.flags[rid] & R.TAG else 0
        if line[qe - 1] - line[qs] + 1 > mlen + tag:
            return False
    return True


def approximate(
    ix: R.RuleIndex,
    ax: ApproxIndex,
    ids: np.ndarray,
    line: np.ndarray,
    ub: np.ndarray,
    exact: R.Matches,
    blocked: np.ndarray | None = None,
    aligned: int = ALIGNED_CANDIDATES,
    min_uncovered: int = MIN_UNCOVERED_LEGALESE,
) -> R.Matches:
    """Sequence matches on the known words ``ids`` (0-based ``line`` per word, ``ub`` unknown words before
    each) where the exact matches ``exact`` leave legalese words uncovered, ``blocked`` positions (tag
    lines) left out of the runs; ``aligned`` candidates are aligned in runs with ``min_uncovered`` such
    words (:data:`EXHAUSTIVE`: ScanCode's 70 and 1). ``Matches`` spans are the first and last+1 matched
    query positions, with the matched share of each rule as ``coverage``."""
    n = len(ids)
    empty = np.zeros(0, dtype=np.int64)
    out: list[SeqMatch] = []
    if n == 0:
        return R.Matches(empty, empty, empty, np.zeros(0), [], empty)
    covered = np.zeros(n + 1, dtype=np.int64)
    np.add.at(covered, exact.start, 1)
    np.add.at(covered, exact.end, -1)
    covered = np.cumsum(covered)[:n] > 0
    legal = ix.legalese[ids]
    matchable = np.ones(n, dtype=bool)
    long_text = ((ix.flags[exact.rule] & R.TEXT) != 0) & (ix.length[exact.rule] > 120)
    for s, e in zip(exact.start[long_text].tolist(), exact.end[long_text].tolist()):
        matchable[s:e] = False  # ScanCode subtracts a long license text matched whole
    if blocked is not None:
        matchable &= ~blocked  # and the SPDX-License-Identifier lines
    if (legal & ~covered & matchable).sum() < min_uncovered:
        return R.Matches(empty, empty, empty, np.zeros(0), [], empty)
    ids_py, ub_py, line_py = ids.tolist(), ub.tolist(), line.tolist()  # read per block by the alignment

    def run_matches(
        lo: int, hi: int, sc: RunScores | None, near_dupe: bool, matchable: np.ndarray, aligned_out=None
    ) -> list[SeqMatch]:
        """The valid sequence matches of the run; every aligned chain, valid or not, also goes to
        ``aligned_out`` when given (ScanCode subtracts all of a near-duplicate pass's alignments)."""
        found: list[SeqMatch] = []
        high_a = legal & matchable
        m_py = matchable.tolist()
        cand = candidates(ax, ix, sc, near_dupe)
        # the multiset intersection bounds the words an alignment can match: a rule it leaves below its
        # minimum coverage or matched length cannot pass the filters, it is not aligned
        bound = sc.multiset(ax, cand)[0] if sc is not None else np.zeros(0)
        cand = cand[
            (100 * bound >= ax.min_cov[cand] * ax.length[cand])
            & (bound >= ax.min_len[cand])
            & (~ax.is_small[cand] | (100 * bound >= 80 * ax.length[cand]))
        ]
        for row in cand[:aligned].tolist():
            rid = int(ax.rids[row])
            b = ix.tokens[ix.offsets[rid] : ix.offsets[rid + 1]]
            runs = legalese_runs(ids, b, lo, hi, high_a, rid)
            if runs is None:
                continue
            row_d = {"length": int(ax.length[row]), "min_cov": int(ax.min_cov[row]),
                     "min_len": int(ax.min_len[row]), "min_high": int(ax.min_high[row]),
                     "is_small": bool(ax.is_small[row])}  # fmt: skip
            py = (ids_py, _tokens_list(rid), m_py)
            start = lo
            while True:  # as ScanCode's match_sequence: align again after the last block until none is found
                blocks = runs_blocks(runs, ids, b, start, hi, matchable, py)
                if not blocks:
                    break
                for m in _chains(rid, blocks, ids_py, ix.legalese, int(ax.length[row])):
                    if aligned_out is not None:
                        aligned_out.append(m)
                    if _valid(ix, row_d, m, ub_py, line_py):
                        found.append(m)
                start = blocks[-1][0] + blocks[-1][2]
                if start >= hi or not (legal[start:hi] & matchable[start:hi]).any():
                    break
        return found

    # near duplicates of the whole file first (then not matched again), then run by run. ScanCode's
    # near-duplicate pass reads every word of the file: its whole-file run keeps the matchable positions
    # it had before the long texts were subtracted (EUPL-1.1 plus its appendix is one near-duplicate rule)
    whole = run_scores(ax, ix, ids)
    near_aligned: list[SeqMatch] = []
    out += run_matches(0, n, whole, True, np.ones(n, dtype=bool), near_aligned)
    for m in near_aligned:  # before ScanCode's filters: it subtracts every near-duplicate alignment
        for qp, _, k in m.blocks:
            matchable[qp : qp + k] = False
    bounds = np.append(query_runs(ids, line, ix.legalese, ix.digits), n).tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if (legal[lo:hi] & ~covered[lo:hi] & matchable[lo:hi]).sum() < min_uncovered:
            continue
        same = lo == 0 and hi == n and matchable.all()  # one run, nothing subtracted: the whole file's
        sc = whole if same else run_scores(ax, ix, ids[lo:hi][matchable[lo:hi]])
        out += run_matches(lo, hi, sc, False, matchable)
    if not out:
        return R.Matches(empty, empty, empty, np.zeros(0), [], empty)
    positions = [m.positions() for m in out]
    return R.Matches(
        np.array([m.rid for m in out], dtype=np.int64),
        np.array([m.start for m in out], dtype=np.int64),
        np.array([m.end for m in out], dtype=np.int64),
        np.array([m.size / ix.length[m.rid] for m in out]),
        positions,
        np.array([int(legal[p].sum()) for p in positions], dtype=np.int64),
    )
