"""ScanCode's sequence alignment (``seq.match_blocks``, ``match_seq.py``, ``merge_matches`` and the filters of
``match.py`` for sequence matches), compiled with numba: one call aligns every candidate rule of a query run.

Per rule: the diagonal runs of equal legalese words (anchors), then ScanCode's recursion -- the longest
run clipped to the rectangle, extended over equal matchable words on both sides, then the same before and
after it -- and again on the rest of the run after the last block until none is found. The blocks chain
while the gaps are small, and each chain is checked by ScanCode's filters. Same answers as ScanCode's
pure-Python loop, at compiled speed: the alignment is a recursion over small rectangles, which numpy
cannot vectorise.
"""

from __future__ import annotations

import numpy as np

from hf_addons.data.jit import compiled
from hf_addons.data.privacy.licenses.jit import grow, grow_rows

MAX_DIST = 50  # licensedcode.MAX_DIST: the largest gap inside one sequence match


def legalese_postings(tokens: np.ndarray, offsets: np.ndarray, legalese: np.ndarray):
    """Per rule (``tokens[offsets[r]:offsets[r + 1]]``) its legalese positions sorted by word, and those
    words: ``(positions, words, offsets)``, the anchors :func:`align_run` looks up."""
    n_rules = len(offsets) - 1
    rule_of = np.repeat(np.arange(n_rules), np.diff(offsets))
    pos = np.arange(len(tokens)) - offsets[rule_of]
    keep = legalese[tokens]
    rule_of, pos, words = rule_of[keep], pos[keep], tokens[keep]
    key = rule_of * (int(words.max(initial=0)) + 1) + words
    order = np.argsort(key, kind="stable")  # by rule, then word; positions stay in order
    return pos[order], words[order], np.searchsorted(rule_of[order], np.arange(n_rules + 1))


@compiled
def _align(ri, rj, rk, a, b, matchable, high, lo, hi, passes):  # pragma: no cover - compiled
    """ScanCode's ``seq.match_blocks`` of query ``a[lo:hi]`` and rule ``b`` given the diagonal runs of
    their equal legalese words (``ri``, ``rj``, ``rk``: query start, rule start, length), then again on
    the rest of the run after the last block while ``high`` (matchable legalese) words remain, at most
    ``passes`` times. Rows ``(query pos, rule pos, size, pass)``, increasing within a pass, adjacent
    blocks merged.

    One rectangle at a time from a stack: its longest run clipped to it (earliest in the query, then in
    the rule) is extended over equal matchable words on both sides. Pushed then: the rectangle after the
    block, the block itself, the rectangle before it, so that blocks come off the stack in query order
    (merged with the previous one when adjacent). A rectangle carries the runs that reached its parent (a
    segment of ``pool``; a popped rectangle's segment is written after every segment still on the stack)."""
    out = np.empty((16, 4), dtype=np.int64)
    n_out = 0
    pool = np.empty(max(64, 2 * len(ri)), dtype=np.int64)
    stack = np.empty((32, 7), dtype=np.int64)  # qlo, qhi, rlo, rhi, segment start, end; a block: 1 in col 6
    start = lo
    for p in range(passes):
        n0 = 0
        for r in range(len(ri)):
            if ri[r] + rk[r] > start:
                pool[n0] = r
                n0 += 1
        stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = start, hi, 0, len(b)
        stack[0, 4], stack[0, 5], stack[0, 6] = 0, n0, 0
        sp = 1
        first = n_out
        while sp:
            sp -= 1
            qlo, qhi, rlo, rhi, s0, s1 = (
                stack[sp, 0], stack[sp, 1], stack[sp, 2], stack[sp, 3], stack[sp, 4], stack[sp, 5]
            )  # fmt: skip
            if stack[sp, 6]:  # a block (query pos, rule pos, size), in query order
                i, j, k = qlo, qhi, rlo
                if (
                    n_out > first
                    and out[n_out - 1, 0] + out[n_out - 1, 2] == i
                    and out[n_out - 1, 1] + out[n_out - 1, 2] == j
                ):
                    out[n_out - 1, 2] += k
                else:
                    if n_out == len(out):
                        out = grow_rows(out, n_out + 1)
                    out[n_out, 0], out[n_out, 1], out[n_out, 2], out[n_out, 3] = i, j, k, p
                    n_out += 1
                continue
            wp = s1
            for t in range(sp):
                wp = max(wp, stack[t, 5])
            if wp + (s1 - s0) > len(pool):
                pool = grow(pool, wp + (s1 - s0))
            n = 0
            bk = bi = bj = 0
            for x in range(s0, s1):
                r = pool[x]
                i, j, k = ri[r], rj[r], rk[r]
                c0 = max(max(i, qlo), i + rlo - j)
                c1 = min(min(i + k, qhi), i + rhi - j)
                size = c1 - c0
                if size <= 0:
                    continue
                pool[wp + n] = r
                n += 1
                jj = j + c0 - i
                if size > bk or (size == bk and (c0 < bi or (c0 == bi and jj < bj))):
                    bk, bi, bj = size, c0, jj
            if bk == 0:
                continue
            i, j, k = bi, bj, bk
            while i > qlo and j > rlo and a[i - 1] == b[j - 1] and matchable[i - 1]:
                i, j, k = i - 1, j - 1, k + 1
            while i + k < qhi and j + k < rhi and a[i + k] == b[j + k] and matchable[i + k]:
                k += 1
            if sp + 3 > len(stack):
                stack = grow_rows(stack, sp + 3)
            if i + k < qhi and j + k < rhi:
                stack[sp, 0], stack[sp, 1], stack[sp, 2], stack[sp, 3] = i + k, qhi, j + k, rhi
                stack[sp, 4], stack[sp, 5], stack[sp, 6] = wp, wp + n, 0
                sp += 1
            stack[sp, 0], stack[sp, 1], stack[sp, 2], stack[sp, 3] = i, j, k, 0
            stack[sp, 4], stack[sp, 5], stack[sp, 6] = 0, 0, 1
            sp += 1
            if qlo < i and rlo < j:
                stack[sp, 0], stack[sp, 1], stack[sp, 2], stack[sp, 3] = qlo, i, rlo, j
                stack[sp, 4], stack[sp, 5], stack[sp, 6] = wp, wp + n, 0
                sp += 1
        if n_out == first:
            break
        start = out[n_out - 1, 0] + out[n_out - 1, 2]
        if start >= hi:
            break
        left = False
        for x in range(start, hi):
            if high[x]:
                left = True
                break
        if not left:
            break
    return out[:n_out]


@compiled
def _legalese_runs(a, anchors, lo, hi, order, words):  # pragma: no cover - compiled
    """The maximal diagonal runs ``(query start, rule start, length)`` of the pairs of equal legalese words
    of query ``a[lo:hi]`` (``anchors``: its positions that may anchor a block) and a rule (``order``: its
    legalese positions sorted by word, ascending for each word; ``words`` those words), in increasing
    query start. Found once per candidate and run, in one sweep along the query: a pair ``(i, j)``
    extends the run of ``(i - 1, j - 1)``, found by merging the rule positions of word ``a[i]`` with those
    of ``a[i - 1]``. Each rectangle of :func:`_align` clips them."""
    size = max(16, hi - lo)
    ri = np.empty(size, dtype=np.int64)
    rj = np.empty(size, dtype=np.int64)
    rk = np.empty(size, dtype=np.int64)
    run_prev = np.empty(len(words), dtype=np.int64)  # the run of each pair of the previous word
    run_cur = np.empty(len(words), dtype=np.int64)
    p0 = p1 = 0  # the previous word's slice of ``order`` (empty unless it is at i - 1)
    m = 0
    for i in range(lo, hi):
        if not anchors[i]:
            p0 = p1 = 0
            continue
        y0 = np.searchsorted(words, a[i])
        y1 = y0
        while y1 < len(words) and words[y1] == a[i]:
            y1 += 1
        if m + (y1 - y0) > size:
            size = max(2 * size, m + (y1 - y0))
            ri, rj, rk = grow(ri, size), grow(rj, size), grow(rk, size)
        x = p0
        for y in range(y0, y1):
            j = order[y]
            while x < p1 and order[x] < j - 1:
                x += 1
            if x < p1 and order[x] == j - 1:
                r = run_prev[x - p0]
                rk[r] += 1
            else:
                r = m
                ri[m], rj[m], rk[m] = i, j, 1
                m += 1
            run_cur[y - y0] = r
        run_prev, run_cur = run_cur, run_prev
        p0, p1 = y0, y1
    return ri[:m], rj[:m], rk[:m]


@compiled
def _passes(
    bl, b, legalese, req, ub, line, length, min_cov, min_len, min_high, small, tag
):  # pragma: no cover
    """ScanCode's filters for a sequence match of blocks ``bl`` (rows query pos, rule pos, size) of rule
    ``b``: required phrases (``req``: rule spans) whole inside one block with no unknown word (``ub``:
    unknown words before each position), density in the query and in the rule, the rule's minimum
    coverage, matched and legalese lengths, and small rules >= 80% covered on no more lines (``line``) than
    words (``tag``: 2 for a tag rule)."""
    qs, qe = bl[0, 0], bl[-1, 0] + bl[-1, 2]  # exclusive end
    is_, ie = bl[0, 1], bl[-1, 1] + bl[-1, 2]
    mlen = 0
    hilen = 0
    for x in range(len(bl)):
        mlen += bl[x, 2]
        for y in range(bl[x, 1], bl[x, 1] + bl[x, 2]):
            hilen += legalese[b[y]]
    for r in range(len(req)):
        s, e = req[r, 0], req[r, 1]
        q0 = -1
        for x in range(len(bl)):
            if bl[x, 1] <= s and bl[x, 1] + bl[x, 2] >= e:
                q0 = bl[x, 0] + s - bl[x, 1]
                break
        if q0 < 0 or ub[q0 + (e - s) - 1] - ub[q0] > 0:
            return False
    qmag = (qe - qs) + ub[qe - 1] - ub[qs]
    density = min(mlen / qmag, mlen / (ie - is_))
    if (
        (mlen < 10 and density < 0.1)
        or (mlen < 15 and density < 0.2)
        or (mlen < 20 and hilen < 5 and density < 0.3)
        or (mlen < 30 and hilen < 8 and density < 0.4)
        or density < 0.4
    ):
        return False
    coverage = 100 * mlen / length
    if coverage < min_cov or mlen < min_len or hilen < min_high:
        return False
    if small and (coverage < 80 or line[qe - 1] - line[qs] + 1 > mlen + tag):
        return False
    return True


@compiled
def align_run(
    rules, length, min_cov, min_len, min_high, small, tag,  # per candidate
    tokens, offsets, leg_pos, leg_word, leg_offsets, legalese, req, req_offsets,  # the rule index
    a, anchors, matchable, ub, line, lo, hi,  # the query run a[lo:hi]
):  # pragma: no cover - compiled  # fmt: skip
    """Every candidate rule aligned in turn on query run ``a[lo:hi]`` (``anchors``: its matchable legalese
    positions): the blocks ScanCode keeps (two words or more, or one legalese word) chained while the gaps
    in the query and in the rule are at most ``min(len // 2, 50)`` words. Returns the chains' blocks (rows
    query pos, rule pos, size, pass, chain), and per chain its candidate and whether it passes
    :func:`_passes`."""
    out = np.empty((64, 5), dtype=np.int64)  # query pos, rule pos, size, pass, chain
    n_out = 0
    chain_cand = np.empty(16, dtype=np.int64)
    chain_ok = np.empty(16, dtype=np.bool_)
    n_chains = 0
    for c in range(len(rules)):
        rid = rules[c]
        b = tokens[offsets[rid] : offsets[rid + 1]]
        o0, o1 = leg_offsets[rid], leg_offsets[rid + 1]
        ri, rj, rk = _legalese_runs(a, anchors, lo, hi, leg_pos[o0:o1], leg_word[o0:o1])
        blocks = _align(ri, rj, rk, a, b, matchable, anchors, lo, hi, hi - lo)
        maxd = min(max(length[c] // 2, 1), MAX_DIST)
        rq = req[req_offsets[rid] : req_offsets[rid + 1]]
        first = -1  # the open chain's first row
        for x in range(len(blocks)):
            i, j, k, p = blocks[x, 0], blocks[x, 1], blocks[x, 2], blocks[x, 3]
            if k == 1 and not legalese[a[i]]:
                continue
            if first >= 0:
                li, lj, lk, lp = out[n_out - 1, 0], out[n_out - 1, 1], out[n_out - 1, 2], out[n_out - 1, 3]
                if p != lp or i - (li + lk - 1) > maxd or j - (lj + lk - 1) > maxd:
                    chain_ok[n_chains - 1] = _passes(out[first:n_out, :3], b, legalese, rq, ub, line,
                                                     length[c], min_cov[c], min_len[c], min_high[c],
                                                     small[c], tag[c])  # fmt: skip
                    first = -1
            if first < 0:
                if n_chains == len(chain_cand):
                    chain_cand, chain_ok = grow(chain_cand, n_chains + 1), grow(chain_ok, n_chains + 1)
                chain_cand[n_chains] = c
                n_chains += 1
                first = n_out
            if n_out == len(out):
                out = grow_rows(out, n_out + 1)
            out[n_out, 0], out[n_out, 1], out[n_out, 2] = i, j, k
            out[n_out, 3], out[n_out, 4] = p, n_chains - 1
            n_out += 1
        if first >= 0:
            chain_ok[n_chains - 1] = _passes(out[first:n_out, :3], b, legalese, rq, ub, line, length[c],
                                             min_cov[c], min_len[c], min_high[c], small[c], tag[c])  # fmt: skip
    return out[:n_out], chain_cand[:n_chains], chain_ok[:n_chains]


def alignments(a, b, legalese, lo, hi, anchors, matchable, passes: int = 1) -> np.ndarray:
    """ScanCode's ``seq.match_blocks`` of query ``a[lo:hi]`` and rule ``b``, repeated on the rest after the
    last block up to ``passes`` times: rows ``(query pos, rule pos, size, pass)``. ``anchors``: the query
    positions that may anchor a block (matchable legalese words)."""
    pos, words, _ = legalese_postings(b, np.array([0, len(b)]), legalese)
    runs = _legalese_runs(a, anchors, lo, hi, pos, words)
    return _align(*runs, a, b, matchable, anchors, lo, hi, passes)
