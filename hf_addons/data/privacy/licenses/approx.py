"""ScanCode's approximate ("seq") stage over all its rules: candidates scored with numpy, aligned by
compiled code (:mod:`.align`).

What the exact stage leaves uncovered (a reworded notice, a partial license text, a long rule variant) is
found as ScanCode finds it (``licensedcode/index.py`` ``get_approximate_matches``, ``match_set.py``,
``match_seq.py``, ``seq.py``):

1. A near-duplicate pass first: rules resembling the whole file (resemblance >= 0.8), aligned over every
   word of it (ScanCode's whole-file run keeps the positions it had before long texts were subtracted:
   EUPL-1.1 plus its appendix is one rule). Then the file is cut into *runs* at 15 lines without a
   legalese word (``query.py``); a run is aligned when a legalese word lies outside exact matches
   (:data:`FAST`: three), leaving out the words of a long license text matched exactly and tag lines.
2. Candidates per run: set, then multiset, resemblance and containment of the run's words with every
   approximately matchable rule (not a false positive, required phrase or continuous rule, and with a
   legalese word: ScanCode decides this before it marks rules tiny or small, so those are in), each
   rule's thresholds applied (minimum matched length, legalese words, containment). All 30,000 such rules
   are scored at once: popcounts of a bitset of the 512 most common words per rule, plus the rarer
   words' postings, in one compiled pass. Ranked by ScanCode's score vectors (rounded, then exact), one
   rule per duplicate group; the top 70 are kept and those that can still reach their minimum coverage
   are aligned (:data:`FAST`: the first 5).
3. Alignment (:func:`.align.align_run`): ScanCode's ``match_blocks`` -- the longest common run of
   legalese words, extended over any equal words, then the same before and after it -- and again on the
   rest of the run after the last block, until no block is found.
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

from hf_addons.data.jit import compiled
from hf_addons.data.privacy.licenses import align
from hf_addons.data.privacy.licenses import rules as R

MAX_CANDIDATES = 70  # ScanCode's MAX_CANDIDATES per query run (ranked, duplicates dropped)
# ScanCode aligns all 70 candidates of every run with a legalese word left uncovered by exact matches, and
# so do we by default. ``classify(..., exhaustive=False)`` does less, for speed: the first 5 candidates, in
# runs with 3 such words (agreement with ScanCode on held-out Debian copyright files 0.74 instead of 0.98,
# docs/data-privacy.md).
FAST = {"aligned": 5, "min_uncovered": 3}
MAX_NEAR_DUPES = 10  # ScanCode's MAX_NEAR_DUPE_CANDIDATES for the whole file
_HIGH_RESEMBLANCE = 0.8
_RUN_BREAK_LINES = 15  # ScanCode's text_line_threshold
_MIN_MATCH_LENGTH, _MIN_MATCH_HIGH_LENGTH, _SMALL_RULE = 4, 3, 15
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
    tag_slack: np.ndarray  # lines a small rule may span beyond its matched words: 2 for a tag, else 0
    # the COMMON_WORDS most frequent words: a presence bitset per rule (popcounts give the set
    # intersections) and dense counts (multiset intersections of the few rules ranked); the postings
    # above hold the other words only
    col_of_word: np.ndarray  # word id -> column among the common words, -1 if not common
    common_bits: np.ndarray  # (rows, COMMON_WORDS // 64) uint64: one bit per common word
    common_counts: np.ndarray  # (rows, COMMON_WORDS) uint8 (a count above 255 is clipped: a few words off
    # in the multiset score of a long text, which ranks candidates only)
    common_legalese: np.ndarray  # (COMMON_WORDS,) bool
    common_weights: np.ndarray  # (COMMON_WORDS, 2) float32: ones, legalese
    # per rule id: its legalese positions sorted by word, and the words (align.legalese_postings)
    leg_pos: np.ndarray
    leg_word: np.ndarray
    leg_offsets: np.ndarray


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
    bits = np.packbits(counts > 0, axis=1, bitorder="little").view(np.uint64)
    common_legalese = np.zeros(COMMON_WORDS, dtype=bool)
    common_legalese[: len(common)] = ix.legalese[common]
    rare = col < 0
    word, rule, cnt = word[rare], rule[rare], cnt[rare]
    indptr = np.searchsorted(word, np.arange(n_words + 1))
    leg_pos, leg_word, leg_offsets = align.legalese_postings(ix.tokens, ix.offsets, ix.legalese)
    return ApproxIndex(
        col_of_word=col_of_word, common_bits=bits, common_counts=counts, common_legalese=common_legalese,
        common_weights=np.stack([np.ones(COMMON_WORDS), common_legalese], axis=1).astype(np.float32),
        rids=rids, indptr=indptr, rows=row_of[rule], counts=cnt.astype(np.int64),
        length=length[rids], length_u=length_u[rids], min_len=min_len[rids], min_high=min_high[rids],
        min_len_u=min_len_u[rids], min_high_u=min_high_u[rids], min_cov=cov[rids],
        containment=cov[rids] / 100.0, is_small=small[rids],
        tag_slack=np.where(f[rids] & R.TAG, 2, 0), leg_pos=leg_pos, leg_word=leg_word, leg_offsets=leg_offsets,
    )  # fmt: skip


@lru_cache(maxsize=1)
def approx_index() -> ApproxIndex:
    """The index, with the compiled kernels loaded (or compiled, the first time) by scoring and aligning
    one rule with itself: the cost lands at load time, not on the first file that needs them."""
    ix = R.rule_index()
    ax = build(ix)
    q = ix.tokens[ix.offsets[ax.rids[0]] : ix.offsets[ax.rids[0] + 1]]
    candidates(ax, ix, run_scores(ax, ix, q), near_dupe=True)
    zeros = np.zeros(len(q), dtype=np.int64)
    _align_rows(ix, ax, zeros[:1], q, np.ones(len(q), dtype=bool), zeros, zeros, 0, len(q))
    return ax


def _align_rows(ix: R.RuleIndex, ax: ApproxIndex, rows, ids, matchable, ub, line, lo: int, hi: int):
    """:func:`.align.align_run` of the candidate ``rows`` on the run ``ids[lo:hi]``."""
    return align.align_run(
        ax.rids[rows], ax.length[rows], ax.min_cov[rows], ax.min_len[rows], ax.min_high[rows], ax.is_small[rows],
        ax.tag_slack[rows], ix.tokens, ix.offsets, ax.leg_pos, ax.leg_word, ax.leg_offsets, ix.legalese,
        ix.req, ix.req_offsets, ids, ix.legalese[ids] & matchable, matchable, ub, line, lo, hi,
    )  # fmt: skip


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


_M1, _M2, _M4, _H01 = (
    np.uint64(m) for m in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x0101010101010101)
)


@compiled(inline="always")
def _popcount(x):  # pragma: no cover - compiled (LLVM emits the popcnt instruction)
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@compiled
def _scores(
    bits, qbits, hbits, rare, rare_counts, legalese, indptr, rows, counts
):  # pragma: no cover - compiled
    """Per rule: the words it shares with a run as a set (all, legalese) and the rarer words' multiset
    share (all, legalese). The common words by popcounts of their bitsets (``qbits``, ``hbits``: the
    run's), in one pass over the rules; the ``rare`` words (the run has ``rare_counts`` of each) by their
    postings."""
    n_rows = bits.shape[0]
    inter_u = np.empty(n_rows, dtype=np.int64)
    high_u = np.empty(n_rows, dtype=np.int64)
    for r in range(n_rows):
        s = t = np.uint64(0)
        for w in range(bits.shape[1]):
            s += _popcount(bits[r, w] & qbits[w])
            t += _popcount(bits[r, w] & hbits[w])
        inter_u[r], high_u[r] = s, t
    rare_m = np.zeros(n_rows)
    rare_high_m = np.zeros(n_rows)
    for x in range(len(rare)):
        leg = legalese[rare[x]]
        for y in range(indptr[rare[x]], indptr[rare[x] + 1]):
            r = rows[y]
            both = min(rare_counts[x], counts[y])
            inter_u[r] += 1
            rare_m[r] += both
            if leg:
                high_u[r] += 1
                rare_high_m[r] += both
    return inter_u, high_u, rare_m, rare_high_m


def run_scores(ax: ApproxIndex, ix: R.RuleIndex, q: np.ndarray) -> RunScores | None:
    """Scores of every rule against a run's words ``q`` (:func:`_scores`)."""
    if not len(q):
        return None
    uq, qc = np.unique(q, return_counts=True)
    col = ax.col_of_word[uq]
    is_c = col >= 0
    q_common = np.zeros(COMMON_WORDS, dtype=np.uint8)
    q_common[col[is_c]] = np.minimum(qc[is_c], 255)
    qbits = np.packbits(q_common > 0, bitorder="little").view(np.uint64)
    hbits = np.packbits((q_common > 0) & ax.common_legalese, bitorder="little").view(np.uint64)
    inter_u, high_u, rare_m, rare_high_m = _scores(
        ax.common_bits, qbits, hbits, uq[~is_c], qc[~is_c], ix.legalese, ax.indptr, ax.rows, ax.counts
    )
    return RunScores(inter_u, high_u, rare_m, rare_high_m, q_common, len(uq), len(q))


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


@compiled
def _set_filter(
    inter_u, high_u, min_high_u, min_len_u, length_u, containment, q_unique, near_dupe
):  # pragma: no cover
    """The rows that pass ScanCode's thresholds on the set scores (``compute_candidates``' first filter):
    enough shared words and legalese words, the rule's minimum containment and, for near duplicates,
    resemblance >= 0.8; one pass over the rules."""
    rows = np.empty(len(inter_u), dtype=np.int64)
    n = 0
    for r in range(len(inter_u)):
        if high_u[r] == 0 or high_u[r] < min_high_u[r] or inter_u[r] < min_len_u[r]:
            continue
        if containment[r] != 0 and inter_u[r] / length_u[r] < containment[r]:
            continue
        if near_dupe and inter_u[r] / (q_unique + length_u[r] - inter_u[r]) < _HIGH_RESEMBLANCE:
            continue
        rows[n] = r
        n += 1
    return rows[:n]


def _scores_of(inter, q_len, r_len) -> tuple[np.ndarray, np.ndarray]:
    """Resemblance and containment from intersection sizes."""
    return inter / (q_len + r_len - inter), inter / r_len


def _rounded(res, cont, inter) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rounded part of ScanCode's ScoresVector, as integers: resemblance >= 0.8 once rounded, then
    containment, squared resemblance and intersection / 20, each ``round(x, 1)`` in tenths."""
    tenths = (np.rint(_round1(x) * 10).astype(np.int64) for x in (cont, res**2, inter / 20))
    return ((_round1(res) >= _HIGH_RESEMBLANCE).astype(np.int64), *tenths)


def _rank(rows, res, cont, inter, rounded, top: int | None = None) -> np.ndarray:
    """Order of the candidate ``rows`` (scores and their :func:`_rounded` aligned with them) by ScanCode's
    ScoresVector, rounded then full, best first (``top``: only the first ones)."""
    idx = np.arange(len(rows))
    high, cont10, res2_10, inter10 = rounded
    if top is not None and len(rows) > top:
        # the rounded keys lead, so their tuple as one integer leaves out what cannot reach the top: the
        # exact sort then runs on the top ones and those tied with the last of them
        coarse = (high << 40) | (cont10 << 36) | (res2_10 << 32) | inter10
        idx = np.flatnonzero(coarse >= np.partition(coarse, len(rows) - top)[len(rows) - top])
    keys = (
        -rows[idx],  # last tie-break: higher rule id first (ScanCode sorts the tuples in reverse)
        -inter[idx], -res[idx] ** 2, -cont[idx], -(res[idx] >= _HIGH_RESEMBLANCE).astype(np.int64),
        -inter10[idx], -res2_10[idx], -cont10[idx], -high[idx],
    )  # fmt: skip
    return idx[np.lexsort(keys)][:top]


def candidates(ax: ApproxIndex, ix: R.RuleIndex, sc: RunScores | None, near_dupe: bool = False) -> np.ndarray:
    """Rows of the top candidate rules for a run (its :func:`run_scores`), ranked as ScanCode's
    ``compute_candidates``: set scores filter and rank, multiset scores re-rank the top 700, one per
    duplicate group. Of those, the ones worth aligning: the multiset intersection bounds the words an
    alignment can match, and a rule it leaves below its minimum coverage or matched length (small rules:
    80%) cannot pass the filters."""
    if sc is None:
        return np.zeros(0, dtype=np.int64)
    cand = _set_filter(sc.inter_u, sc.high_u, ax.min_high_u, ax.min_len_u, ax.length_u, ax.containment,
                       sc.q_unique, near_dupe)  # fmt: skip
    if not len(cand):
        return cand
    inter = sc.inter_u[cand]
    res, cont = _scores_of(inter, sc.q_unique, ax.length_u[cand])
    cand = cand[_rank(cand, res, cont, inter, _rounded(res, cont, inter), MAX_CANDIDATES * 10)]
    inter, high = sc.multiset(ax, cand)
    res, cont = _scores_of(inter, sc.q_total, ax.length[cand])
    ok = (high >= ax.min_high[cand]) & (inter >= ax.min_len[cand]) & (high > 0)
    ok &= (ax.containment[cand] == 0) | (cont >= ax.containment[cand])
    if near_dupe:
        ok &= res >= _HIGH_RESEMBLANCE
    cand, inter, res, cont = cand[ok], inter[ok], res[ok], cont[ok]
    rounded = _rounded(res, cont, inter)
    order = _rank(cand, res, cont, inter, rounded)
    if not len(order):
        return cand
    # one per duplicate group: same expression, rounded scores and length (the best ranked one stays)
    cand, inter = cand[order], inter[order]
    group = np.stack([ix.expr[ax.rids[cand]], *(k[order] for k in rounded), ax.length[cand]], axis=1)
    want = MAX_NEAR_DUPES if near_dupe else MAX_CANDIDATES
    head = 2 * want
    while True:  # the first ``want`` groups usually lie in the first rows ranked: look there first
        _, first = np.unique(group[:head], axis=0, return_index=True)
        if len(first) >= want or head >= len(group):
            break
        head *= 4
    top = np.sort(first)[:want]
    cand, bound = cand[top], inter[top]
    return cand[
        (100 * bound >= ax.min_cov[cand] * ax.length[cand])
        & (bound >= ax.min_len[cand])
        & (~ax.is_small[cand] | (100 * bound >= 80 * ax.length[cand]))
    ]


def approximate(
    ix: R.RuleIndex,
    ax: ApproxIndex,
    ids: np.ndarray,
    line: np.ndarray,
    ub: np.ndarray,
    exact: R.Matches,
    blocked: np.ndarray | None = None,
    aligned: int = MAX_CANDIDATES,
    min_uncovered: int = 1,
) -> R.Matches:
    """Sequence matches on the known words ``ids`` (0-based ``line`` per word, ``ub`` unknown words before
    each) where the exact matches ``exact`` leave legalese words uncovered, ``blocked`` positions (tag
    lines) left out of the runs; ``aligned`` candidates are aligned in runs with ``min_uncovered`` such
    words (ScanCode's 70 and 1 by default; :data:`FAST`: 5 and 3). ``Matches`` spans are the first and
    last+1 matched query positions, with the matched share of each rule as ``coverage``."""
    n = len(ids)
    empty = np.zeros(0, dtype=np.int64)
    nothing = R.Matches(empty, empty, empty, np.zeros(0), [], empty)
    if n == 0:
        return nothing
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
        return nothing
    ids, line, ub = (np.ascontiguousarray(x, dtype=np.int64) for x in (ids, line, ub))
    found: list[tuple[int, np.ndarray]] = []  # (rule id, blocks: query pos, rule pos, size)

    def run_matches(
        lo: int, hi: int, sc: RunScores | None, near_dupe: bool, matchable: np.ndarray
    ) -> np.ndarray:
        """Aligns the run's candidates; the valid sequence matches go to ``found``. Returns every aligned
        block, valid or not (ScanCode subtracts all of a near-duplicate pass's alignments)."""
        rows = candidates(ax, ix, sc, near_dupe)[:aligned]
        if not len(rows):
            return np.zeros((0, 5), dtype=np.int64)
        blocks, chain_cand, chain_ok = _align_rows(ix, ax, rows, ids, matchable, ub, line, lo, hi)
        chain = blocks[:, 4]
        for c in np.flatnonzero(chain_ok).tolist():
            s0, s1 = np.searchsorted(chain, [c, c + 1])
            found.append((int(ax.rids[rows[chain_cand[c]]]), blocks[s0:s1, :3]))
        return blocks

    # near duplicates of the whole file first (then not matched again), then run by run. ScanCode's
    # near-duplicate pass reads every word of the file: its whole-file run keeps the matchable positions
    # it had before the long texts were subtracted (EUPL-1.1 plus its appendix is one near-duplicate rule)
    whole = run_scores(ax, ix, ids)
    near = run_matches(0, n, whole, True, np.ones(n, dtype=bool))
    for qp, _, k in near[:, :3].tolist():  # before ScanCode's filters: it subtracts every such alignment
        matchable[qp : qp + k] = False
    bounds = np.append(query_runs(ids, line, ix.legalese, ix.digits), n).tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if (legal[lo:hi] & ~covered[lo:hi] & matchable[lo:hi]).sum() < min_uncovered:
            continue
        same = lo == 0 and hi == n and matchable.all()  # one run, nothing subtracted: the whole file's
        sc = whole if same else run_scores(ax, ix, ids[lo:hi][matchable[lo:hi]])
        run_matches(lo, hi, sc, False, matchable)
    if not found:
        return nothing
    positions = [np.concatenate([np.arange(q, q + k) for q, _, k in bl.tolist()]) for _, bl in found]
    return R.Matches(
        np.array([rid for rid, _ in found], dtype=np.int64),
        np.array([bl[0, 0] for _, bl in found], dtype=np.int64),
        np.array([bl[-1, 0] + bl[-1, 2] for _, bl in found], dtype=np.int64),
        np.array([bl[:, 2].sum() / ix.length[rid] for rid, bl in found]),
        positions,
        np.array([int(legal[p].sum()) for p in positions], dtype=np.int64),
    )
