"""License classification of code files and license texts: SPDX id + category, and a repository roll-up.

The classifier follows ScanCode's detection pipeline (the accuracy reference, as used for The Stack) with
its own vectorised matchers:

1. ``SPDX-License-Identifier`` tags (ScanCode's spdx-lid stage): ids and their aliases resolved as ScanCode
   does, an unknown id as ``LicenseRef-scancode-unknown-spdx``; matching goes on for the rest of the file.
2. ScanCode's ~37,500 rules and license texts matched exactly (its "aho" stage, :mod:`.rules`): notices,
   references, tags, intros, clues and false-positive rules, refined as ScanCode does (required phrases,
   contained and overlapping matches, false positives).
3. ScanCode's approximate stage over all rules (:mod:`.approx`, on by default): where exact matches leave
   legalese words uncovered, candidate rules ranked by set/multiset resemblance are aligned with the
   query (ScanCode's ``match_blocks``) and kept above each rule's minimum coverage: reworded notices,
   partial texts, long rule variants. Exact and approximate matches are refined together.
   With ``approximate=False`` the older stand-in runs instead (kept for comparison): license texts found by word 3-gram
   containment against the reference texts in ``license_data/`` (the 47 choosealicense texts plus
   ScanCode's texts of the SPDX-listed licenses and of 83 ScanCode-only ones); a rule match mostly
   inside a found text is part of it; a license-text rule found whole that holds most of a found text
   is ScanCode's own reading of it; a text whose words are mostly (>= 70%) covered by exact rule
   matches naming other licenses gives way to them.

Matches then form detections as in ScanCode (lines at most 4 apart; false-positive groups, clue-only groups
and "unknown" intros before a proper match dropped), each detection's expressions ANDed and the file's
unique detections ANDed. Categories: choosealicense's conditions for its 47 texts, ScanCode's category for
the rest (Permissive, Copyleft Limited -> weak_copyleft, Copyleft -> strong_copyleft, Public Domain;
anything else -> unknown) unless choosealicense has the family (CC-BY-SA-3.0 as CC-BY-SA-4.0).
Debian ``copyright`` files (DEP-5) need no parser: ScanCode's rules name the Debian short names
("License: GPL-2+") and read the texts in them.
"""

from __future__ import annotations

import json
import lzma
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.base import Batch, Step, require_columns
from hf_addons.data.licenses import approx, rules
from hf_addons.data.secrets import decode_cell

DATA_FILE = Path(__file__).resolve().parents[1] / "license_data" / "licenses.json"
SPDX_DATA_FILE = Path(__file__).resolve().parents[1] / "license_data" / "scancode-spdx.json.xz"
# choosealicense still uses the deprecated bare GNU ids; SPDX (and ScanCode) name them "-only"
_MODERN_IDS = {"AGPL-3.0": "AGPL-3.0-only", "GPL-2.0": "GPL-2.0-only", "GPL-3.0": "GPL-3.0-only",
               "LGPL-2.1": "LGPL-2.1-only", "LGPL-3.0": "LGPL-3.0-only", "GFDL-1.3": "GFDL-1.3-only"}  # fmt: skip
# ranking: matched 3-grams minus a quarter of the missing ones (see _Index.match)
_MISS_WEIGHT = 0.25
# scores closer than this share of the best text's 3-grams are a tie (a few words of noise in a long text)
_TIE_SHARE = 0.01
_SCANCODE_CATEGORIES = {"Permissive": "permissive", "Copyleft Limited": "weak_copyleft",
                        "Copyleft": "strong_copyleft", "Public Domain": "public_domain"}  # fmt: skip
CATEGORIES = ("permissive", "weak_copyleft", "strong_copyleft", "public_domain", "unknown")
# the conventional reading where the reference's conditions alone mislead
_CATEGORY_OVERRIDES = {
    "EPL-1.0": "weak_copyleft",
    "EPL-2.0": "weak_copyleft",
    "OFL-1.1": "weak_copyleft",
    "Vim": "weak_copyleft",
    "LPPL-1.3c": "weak_copyleft",
    "CC0-1.0": "public_domain",
    "Unlicense": "public_domain",
    "WTFPL": "public_domain",
    "0BSD": "permissive",
    "MIT-0": "permissive",
}
# SPDX ids outside the 47 references: category by prefix (checked in order)
_PREFIX_CATEGORIES = (
    ("LicenseRef-public-domain", "public_domain"),
    ("AGPL", "strong_copyleft"),
    ("LGPL", "weak_copyleft"),
    ("GPL", "strong_copyleft"),
    ("MPL", "weak_copyleft"),
    ("EPL", "weak_copyleft"),
    ("CDDL", "weak_copyleft"),
    ("EUPL", "strong_copyleft"),
    ("OSL", "strong_copyleft"),
    ("CC-BY-NC", "unknown"),
    ("CC-BY-ND", "unknown"),
    ("CC-BY-SA", "strong_copyleft"),
    ("CC-BY", "permissive"),
    ("CC0", "public_domain"),
    ("Unlicense", "public_domain"),
    ("Apache", "permissive"),
    ("MIT", "permissive"),
    ("BSD", "permissive"),
    ("ISC", "permissive"),
    ("Zlib", "permissive"),
    ("PSF", "permissive"),
    ("Python", "permissive"),
    ("BSL", "permissive"),
    ("0BSD", "permissive"),
    ("X11", "permissive"),
    ("HPND", "permissive"),
    ("Unicode", "permissive"),
)
_SPDX_TAG = re.compile(
    r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-() ]+?)\s*(?:\*/|-->|\"|'|$)", re.MULTILINE
)
# a file that only names its license ("Apache 2.0", "MIT License", "GPLv3")
_NAMES: tuple[tuple[str, str], ...] = (
    (r"(?:the )?apache(?: software)?(?: license)?(?: version| v)? ?2(?: 0)?(?: license)?", "Apache-2.0"),
    (r"(?:the )?mit(?: license)?", "MIT"),
    (r"(?:the )?(?:new |revised )?bsd(?: 3 clause)?(?: license)?", "BSD-3-Clause"),
    (r"(?:the )?bsd 2 clause(?: license)?", "BSD-2-Clause"),
    (r"(?:the )?isc(?: license)?", "ISC"),
    (r"(?:gnu )?(?:gpl ?v?3|gpl version 3)(?: only)?", "GPL-3.0-only"),
    (r"(?:gnu )?(?:gpl ?v?2|gpl version 2)(?: only)?", "GPL-2.0-only"),
    (r"(?:gnu )?lgpl ?v?2 1", "LGPL-2.1-only"),
    (r"(?:gnu )?lgpl ?v?3", "LGPL-3.0-only"),
    (r"mpl ?2 0|mozilla public license 2 0", "MPL-2.0"),
    (r"public domain|unlicense|the unlicense", "LicenseRef-public-domain"),
)
_COPYRIGHT_LINE = re.compile(r"(?im)^\W*(?:copyright\b|\(c\)|©).*$")
_SPELLING = (("licence", "license"), ("authorisation", "authorization"), ("organisation", "organization"))


# what follows these words on a copyright line is a license statement, not part of the holder's name
_LICENSE_CUE = re.compile(r"(?i)\b(?:licen[sc]ed|released|distributed|made available|available) under\b.*")


def _drop_copyright(m: re.Match) -> str:
    cue = _LICENSE_CUE.search(m.group(0))
    return " " + cue.group(0) if cue else " "


def normalize(text: str) -> str:
    """Lowercase words joined by single spaces; comment markers, punctuation and copyright lines dropped
    (except a license statement on one: "(c) 2001 Secret Labs, licensed under CNRI's Python 1.6")."""
    text = _COPYRIGHT_LINE.sub(_drop_copyright, text).lower()
    for a, b in _SPELLING:
        text = text.replace(a, b)
    return " ".join(re.findall(r"[a-z0-9]+", text))


def build_reference(src_dir: str | Path, out: str | Path = DATA_FILE) -> Path:
    """Compile choosealicense-style texts (YAML front matter + body) into the shipped ``licenses.json``."""
    refs = []
    for path in sorted(Path(src_dir).glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        if not raw.startswith("---"):
            continue
        _, header, body = raw.split("---", 2)
        meta: dict[str, Any] = {}
        key = None
        for line in header.splitlines():
            if m := re.match(r"^([a-z-]+):\s*(.*)$", line):
                key, value = m.group(1), m.group(2).strip()
                meta[key] = value if value else []
            elif (m := re.match(r"^\s+-\s+(\S+)", line)) and key and isinstance(meta.get(key), list):
                meta[key].append(m.group(1))
        spdx = _MODERN_IDS.get(meta["spdx-id"], meta["spdx-id"])
        conditions = meta.get("conditions") or []
        if meta["spdx-id"] in _CATEGORY_OVERRIDES:
            category = _CATEGORY_OVERRIDES[meta["spdx-id"]]
        elif any(c in ("same-license--file", "same-license--library") for c in conditions):
            category = "weak_copyleft"
        elif "same-license" in conditions:
            category = "strong_copyleft"
        elif not conditions:
            category = "public_domain"
        else:
            category = "permissive"
        refs.append({"spdx": spdx, "title": meta.get("title", spdx), "category": category,
                     "conditions": conditions, "text": body.strip()})  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source": "github/choosealicense.com (MIT, see SOURCE-LICENSE.md)",
                               "licenses": refs}, indent=1) + "\n")  # fmt: skip
    return out


# a ScanCode-only license must be a full text: a notice-sized one (KDE's "LGPL 2.1 or 3 or later versions
# accepted by KDE e.V.") would take over the standard notice of the license it amends
_LICENSEREF_MIN_WORDS = 150


def _rule_counts(rules_dir: Path) -> Counter:
    """ScanCode license key -> how many of ScanCode's detection rules name it: how often its maintainers met
    the license in real code (a popularity measure; only the counts are used, no rule text)."""
    counts: Counter = Counter()
    for path in rules_dir.glob("*.RULE"):
        with open(path, encoding="utf-8") as fh:
            head = fh.read(2048)
        if m := re.search(r"(?m)^license_expression:\s*(.+)$", head):
            keys = {k.lower() for k in re.findall(r"[A-Za-z0-9][A-Za-z0-9.+_-]*", m.group(1))}
            counts.update(keys - {"and", "or", "with"})
    return counts


def build_scancode_reference(
    src_dir: str | Path, out: str | Path = SPDX_DATA_FILE, licenseref_min_rules: int = 5
) -> Path:
    """Compile ScanCode's license texts (``licensedcode/data/licenses``, CC-BY-4.0) into ``out`` (xz JSON).

    Kept: every non-deprecated license or exception with an SPDX-list id (not ``LicenseRef-``, not the
    deprecated ``X-with-Y-exception`` compounds). That is the whole SPDX list, chosen by a rule rather than
    by what a benchmark set contains. The 47 licenses choosealicense supplies keep ScanCode's copy as a
    second text of the same id: the two differ in optional parts such as appendices and title lines.
    With ``licenseref_min_rules`` > 0 (default 5), ScanCode's own licenses outside the SPDX list are kept too (as
    ``LicenseRef-scancode-<key>``) when they are specific (not generic or "unknown"), English, and named by
    at least that many of ScanCode's detection rules (``../rules``: the ones its maintainers met often).
    Also stored: ``popularity``, that rule count per SPDX id, which decides near-ties (see ``_Index.match``).
    """
    # a family choosealicense covers keeps its category across versions (CC-BY-SA-3.0 as CC-BY-SA-4.0)
    family_category = {
        re.sub(r"-\d.*$", "", r["spdx"]): r["category"] for r in json.loads(DATA_FILE.read_text())["licenses"]
    }
    rules_dir = Path(src_dir).parent / "rules"
    if not rules_dir.is_dir():
        raise FileNotFoundError(
            f"ScanCode rules folder missing (needed for the popularity counts): {rules_dir}"
        )
    rule_counts = _rule_counts(rules_dir)
    refs, popularity = [], {}
    for path in sorted(Path(src_dir).glob("*.LICENSE")):
        raw = path.read_text(encoding="utf-8")
        if not raw.startswith("---"):
            continue
        _, header, body = raw.split("---", 2)
        meta = dict(re.findall(r"(?m)^([a-z_]+): (.*)$", header))
        spdx = meta.get("spdx_license_key", "").strip()
        n_rules = rule_counts.get(meta.get("key", "").strip().lower(), 0)
        licenseref = spdx.startswith("LicenseRef-")
        if (
            not spdx
            or "-with-" in spdx
            or meta.get("is_deprecated") == "yes"
            or len(normalize(body).split()) < 12
        ):
            continue
        if licenseref and not (
            licenseref_min_rules
            and n_rules >= licenseref_min_rules
            and meta.get("is_generic") != "yes"
            and meta.get("is_unknown") != "yes"
            and meta.get("language", "en").strip() == "en"
            and len(normalize(body).split()) >= _LICENSEREF_MIN_WORDS
        ):
            continue
        popularity[spdx] = max(popularity.get(spdx, 0), n_rules)
        exception = meta.get("is_exception") == "yes"
        category = _SCANCODE_CATEGORIES.get(meta.get("category", "").strip(), "unknown")
        category = "exception" if exception else family_category.get(re.sub(r"-\d.*$", "", spdx), category)
        refs.append({"spdx": spdx, "title": meta.get("name", spdx).strip(), "category": category,
                     "text": body.strip()})  # fmt: skip
    out = Path(out)
    payload = {"source": "aboutcode-org/scancode-toolkit licensedcode/data/licenses (CC-BY-4.0, see "
               "SOURCE-LICENSE.md)", "licenses": refs, "popularity": popularity}  # fmt: skip
    out.write_bytes(lzma.compress(json.dumps(payload).encode(), preset=9 | lzma.PRESET_EXTREME))
    return out


def category_of(spdx: str | None) -> str:
    """Category of an SPDX id or expression (``OR``: the most permissive part, ``AND``: the strictest;
    parentheses group as usual)."""
    if not spdx:
        return "unknown"
    rank = {c: i for i, c in enumerate(("public_domain", "permissive", "weak_copyleft", "strong_copyleft"))}
    tokens = re.findall(r"\(|\)|[^\s()]+(?:\s+WITH\s+[^\s()]+)?", spdx)
    pos = 0

    def term(tok: str) -> str | None:
        base = tok.split(" WITH ")[0].strip()
        known = _categories()
        cat = (
            known.get(base)
            or known.get(base.removesuffix("-only"))
            or known.get(base.removesuffix("-or-later"))
        )
        if cat == "exception":  # an exception alone ("MIT AND fmt-exception") does not set the category
            return None
        if cat is None:  # ScanCode's category of the license, else by the id's prefix
            cat = _SCANCODE_CATEGORIES.get(rules.rule_index().categories.get(base, ""))
        if cat is None:
            cat = next((c for prefix, c in _PREFIX_CATEGORIES if base.startswith(prefix)), "unknown")
        if " WITH " in tok and cat == "strong_copyleft" and re.search(r"Classpath|GCC|linking", tok):
            cat = "weak_copyleft"
        return cat

    def expr(level: int) -> str | None:  # level 0: OR, 1: AND, 2: a term or a parenthesised expression
        nonlocal pos
        if level == 2:
            tok = tokens[pos] if pos < len(tokens) else ""
            pos += 1
            if tok == "(":
                cat = expr(0)
                pos += 1  # ")"
                return cat
            return term(tok)
        op = ("OR", "AND")[level]
        cats = [expr(level + 1)]
        while pos < len(tokens) and tokens[pos].upper() == op:
            pos += 1
            cats.append(expr(level + 1))
        known_cats = [c for c in cats if c in rank]
        if not known_cats:
            return "unknown" if any(c == "unknown" for c in cats) else None
        return (min if op == "OR" else max)(known_cats, key=rank.__getitem__)

    cat = expr(0)
    return cat if cat in rank else "unknown"


class _Index:
    """Reference 3-gram sets in one sorted key array with CSR postings, for vectorised containment counts."""

    def __init__(self, refs: list[dict[str, Any]], popularity: Mapping[str, int] | None = None):
        ix = rules.rule_index()
        self.spdx = [r["spdx"] for r in refs]
        # per family without the -only/-or-later suffix: the two share one text, the first one listed wins
        family_pop: Counter = Counter()
        for i, n in (popularity or {}).items():
            family_pop[re.sub(r"-(?:only|or-later)$", "", i)] += n
        self.popularity = np.array(
            [family_pop[re.sub(r"-(?:only|or-later)$", "", i)] for i in self.spdx], dtype=np.int64
        )
        self.family = [re.sub(r"-v?\d.*$", "", i) for i in self.spdx]  # "GFDL-1.1-only" -> "GFDL"
        self.category: dict[str, str] = {}
        for r in refs:  # the first text of an id (choosealicense's) sets its category
            self.category.setdefault(r["spdx"], r["category"])
        self.is_exception = np.array([r["category"] == "exception" for r in refs])
        # words are the rule index's ids (one lookup serves both matchers), British spellings mapped
        words = np.array(ix.words)
        for a, b in _SPELLING:
            words = np.char.replace(words, a, b)
        uniq, self.spelling = np.unique(words, return_inverse=True)
        if len(uniq) >= self._UNKNOWN:
            raise ValueError(f"{len(uniq)} words do not fit the 15-bit ids of the 3-gram keys")
        self.spelling = np.append(self.spelling, self._UNKNOWN)  # index -1: a word no rule or text has
        # all texts in one pass: joined by a marker line, tokenised once, 3-grams unique per text
        marker = "zzreferenceboundaryzz"
        joined = "".join(f"\n{marker}\n{r['text']}" for r in refs)
        tokens, line = ix.tokenize(joined)
        ids, keep = _text_view(joined, self, tokens, line, ix.lookup(tokens))
        owner_all = np.cumsum(tokens == marker)[keep] - 1
        if (ids[owner_all >= 0] == self._UNKNOWN).sum() != len(refs):  # the markers only
            raise ValueError("a reference text has words the rule index lacks: rebuild it (build_rule_index)")
        tri = self._trigrams(ids)
        ok = (owner_all[:-2] == owner_all[2:]) & (ids[:-2] != self._UNKNOWN) & (ids[2:] != self._UNKNOWN)
        ok &= ids[1:-1] != self._UNKNOWN
        pair = np.unique((owner_all[:-2][ok] << 45) | tri[ok])
        keys, owner = [pair & ((1 << 45) - 1)], [pair >> 45]
        all_keys, owners = np.concatenate(keys), np.concatenate(owner)
        self.sizes = np.bincount(owners, minlength=len(self.spdx)).astype(np.float64)
        order = np.argsort(all_keys, kind="stable")
        all_keys, self.owners = all_keys[order], owners[order]
        self.keys, starts = np.unique(all_keys, return_index=True)
        self.starts = np.append(starts, len(all_keys))

    _UNKNOWN = (1 << 15) - 1  # id of a word no reference has: its 3-grams match nothing (3 ids in 45 bits)

    def _trigrams(self, ids: np.ndarray) -> np.ndarray:
        if len(ids) < 3:
            return np.zeros(0, dtype=np.int64)
        v = 1 << 15
        return (ids[:-2] * v + ids[1:-1]) * v + ids[2:]

    def doc_trigrams(self, ids: np.ndarray) -> np.ndarray:
        """The text's 3-gram keys, one per position (``ids`` from :func:`_text_view`)."""
        if len(ids) < 3:
            return np.zeros(0, dtype=np.int64)
        return self._trigrams(ids)

    def postings(self, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(inverse, u, owner)``: position -> distinct 3-gram index, and one (3-gram, reference) pair per
        reference text that holds a distinct 3-gram of ``tri``."""
        doc, inverse = np.unique(tri, return_inverse=True)
        pos = np.minimum(np.searchsorted(self.keys, doc), len(self.keys) - 1)
        hit_u = np.flatnonzero(self.keys[pos] == doc)
        hit = pos[hit_u]
        lengths = self.starts[hit + 1] - self.starts[hit]
        idx = np.repeat(self.starts[hit] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return inverse, np.repeat(hit_u, lengths), self.owners[idx]

    def overlap(self, tri: np.ndarray) -> np.ndarray:
        """Per reference, how many of its distinct 3-grams occur among ``tri``."""
        if not len(tri):
            return np.zeros(len(self.spdx))
        return np.bincount(self.postings(tri)[2], minlength=len(self.spdx)).astype(np.float64)

    def match(self, tri: np.ndarray, min_coverage: float) -> tuple[list[tuple], np.ndarray]:
        """Greedy disjoint matching: ``[(ref, first position, coverage, member mask)]`` and the covered mask.

        Each round takes the reference that best explains the part of the file no earlier match covered:
        matched 3-grams there minus a quarter of its 3-grams missing. A text that contains a shorter
        sibling found whole wins (BSD-3-Clause over BSD-2-Clause, MIT over MIT-0), while a variant that
        adds a clause the file lacks (BSD-3-Clause-No-Nuclear) or rewords one (Pixar's Apache) loses to
        the original; after BSD-3-Clause is found, the MIT text after it beats NCSA (which resembles
        both). A reference must reach the coverage threshold on uncovered positions, so a sibling inside
        a found text or a short text whose words occur inside a long one is not reported again.
        """
        covered = np.zeros(len(tri), dtype=bool)
        if not len(tri):
            return [], covered
        inverse, u, owner = self.postings(tri)
        inter = np.bincount(owner, minlength=len(self.spdx)).astype(np.float64)
        # a short reference (a notice-sized text) must be found nearly whole, and so must an exception:
        # many embed the notice of the license they amend (GNAT's is the GPL-2.0-or-later notice + 2 lines)
        need = np.where((self.sizes < 40) | self.is_exception, max(min_coverage, 0.8), min_coverage)
        remaining = np.flatnonzero(inter / self.sizes >= need).tolist()
        if not remaining:
            return [], covered
        keep = np.isin(owner, remaining)
        u, owner = u[keep], owner[keep]
        order = np.argsort(owner, kind="stable")
        split = np.searchsorted(owner[order], remaining + [len(self.spdx)])
        ref_u = {
            j: u[order[split[k] : split[k + 1]]] for k, j in enumerate(remaining)
        }  # its distinct 3-grams
        n_doc = int(inverse.max()) + 1
        chosen: list[tuple] = []
        while remaining:
            if chosen:  # distinct 3-grams still seen at some uncovered position
                open_u = np.zeros(n_doc, dtype=bool)
                open_u[inverse[~covered]] = True
                fresh = {j: float(open_u[ref_u[j]].sum()) for j in remaining}
            else:
                fresh = {j: inter[j] for j in remaining}
            remaining = [j for j in remaining if fresh[j] / self.sizes[j] >= need[j]]
            if not remaining:
                break
            score = {j: fresh[j] - _MISS_WEIGHT * (self.sizes[j] - fresh[j]) for j in remaining}
            best = max(remaining, key=score.__getitem__)
            # texts of two licenses that near-tie with conflicting evidence (CUA-OPL-1.0, MPL-1.1 renamed, has
            # more 3-grams in an MPL-1.1 file, MPL-1.1 a larger share of its own) are told apart by how common
            # they are, as ScanCode prefers the common one: the count of ScanCode rules naming each. A text
            # found more completely than any rival keeps its win, and so do versions of one license (YPL-1.0
            # / 1.1), which differ in few words by design.
            tie = score[best] - _TIE_SHARE * self.sizes[best]
            rivals = [
                j for j in remaining
                if score[j] >= tie and self.family[j] != self.family[best]
                and fresh[j] / self.sizes[j] > fresh[best] / self.sizes[best]
            ]  # fmt: skip
            best = max([best, *rivals], key=lambda j: (self.popularity[j], score[j]))
            in_best = np.zeros(n_doc, dtype=bool)
            in_best[ref_u[best]] = True
            member = in_best[inverse]
            chosen.append(
                (best, int(np.argmax(member & ~covered)), float(inter[best] / self.sizes[best]), member)
            )
            covered |= member
            remaining.remove(best)
        chosen.sort(key=lambda c: c[1])
        return chosen, covered


@lru_cache(maxsize=1)
def _references() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The reference texts (choosealicense's, then ScanCode's) and ScanCode's rule counts per id."""
    if not DATA_FILE.exists():
        raise FileNotFoundError(f"license reference data missing: {DATA_FILE} (package data not installed?)")
    refs = json.loads(DATA_FILE.read_text())["licenses"]
    popularity: dict[str, int] = {}
    if SPDX_DATA_FILE.exists():
        payload = json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))
        refs = refs + payload["licenses"]
        popularity = payload.get("popularity", {})
    return refs, popularity


@lru_cache(maxsize=1)
def _categories() -> dict[str, str]:
    """SPDX id -> category; the first text of an id (choosealicense's) sets it."""
    out: dict[str, str] = {}
    for r in _references()[0]:
        out.setdefault(r["spdx"], r["category"])
    return out


@lru_cache(maxsize=1)
def _index() -> _Index:
    """The 3-gram text matcher (``approximate=False`` only), built on first use (~1.7 s)."""
    return _Index(*_references())


def classify(
    text: str, min_coverage: float = 0.5, max_chars: int = 200_000, approximate: bool = True
) -> dict[str, Any]:
    """Classify one file or license text: ``{"spdx", "category", "method", "score"}``.

    ``method`` is ``spdx_tag`` (a tag was found; other findings are ANDed to it), ``text`` (a license text
    found), ``notice`` (ScanCode rules only: notices, references, tags), ``name`` (the whole file is a
    license name no rule names) or ``none``. ``score``: the lowest coverage among the rules matched (1 for
    exact matches; with ``approximate=False``, the share of the first found text's 3-grams). Only the first
    ``max_chars`` are read (licenses sit at the top of files); binary-looking input gives ``method="binary"``.
    ``approximate`` (default True): ScanCode's approximate stage over all rules (:mod:`.approx`); False runs
    the older 3-gram text matcher instead (dev agreement with ScanCode 0.971 vs 0.989, docs/data-privacy.md).
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"classify() needs str or bytes, got {type(text).__name__}")
    head = text[:max_chars]
    if "\x00" in head[:8192]:
        return {"spdx": None, "category": "unknown", "method": "binary", "score": 0.0}
    return _classify_text(head, min_coverage, approximate)


def _text_view(
    text: str,
    index: _Index,
    tokens: np.ndarray | None = None,
    line: np.ndarray | None = None,
    ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What the license-text matcher reads: the word ids of ScanCode's tokens (``tokens``/``line``/``ids``
    when already made), British spellings made American, the words of copyright lines hidden except a
    license statement on one ("(c) 2001 Secret Labs, licensed under CNRI's Python 1.6"). Returns the kept
    ids and the mask of kept positions."""
    ix = rules.rule_index()
    if tokens is None:
        tokens, line = ix.tokenize(text)
        ids = ix.lookup(tokens)
    keep = np.ones(len(tokens), dtype=bool)
    found = list(_COPYRIGHT_LINE.finditer(text))
    if found and len(tokens):
        nl = np.flatnonzero(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == 10)
        at = np.searchsorted(
            nl, [m.start() + m.group(0).rfind("\n") + 1 for m in found]
        )  # "^\W*" eats newlines
        starts, ends = np.searchsorted(line, at), np.searchsorted(line, at, "right")
        for m, a, b in zip(found, starts.tolist(), ends.tolist()):  # one step per copyright line
            cue = _LICENSE_CUE.search(m.group(0))
            n_before = len(ix.tokenize(m.group(0)[: cue.start()])[0]) if cue else b - a
            keep[a : min(b, a + n_before)] = False
    keep &= ids < ix.n_words  # stop words are skipped, as ScanCode does
    return index.spelling[ids[keep]], keep


def _tokens_covered(member: np.ndarray, n_tokens: int) -> np.ndarray:
    """Token mask from a 3-gram position mask: a token is covered by any 3-gram it belongs to."""
    tok = np.zeros(n_tokens, dtype=bool)
    for o in range(3):
        tok[o : o + len(member)] |= member
    return tok


# a found license text gives way to exact rule matches (of at least _EXACT_MIN_WORDS words) that cover this
# share of its words and name other licenses (see _classify_text)
_EXACT_EXPLAINS = 0.7
_EXACT_MIN_WORDS = 20
# words apart from which two parts of a found license text are separate regions (see _main_region)
_REGION_GAP = 30


def _main_region(where: np.ndarray, n: int) -> np.ndarray:
    """Mask of the covered positions ``where`` (sorted) in the largest region: runs at most ``_REGION_GAP``
    words apart join. A license text is found in one place (ScanCode aligns it to one query region); its
    3-grams that recur elsewhere (a URL, a title line in another language's part) are not that text."""
    inside = np.zeros(n, dtype=bool)
    if not len(where):
        return inside
    cut = np.flatnonzero(np.diff(where) > _REGION_GAP) + 1
    bounds = np.concatenate(([0], cut, [len(where)]))
    k = int(np.argmax(np.diff(bounds)))
    inside[where[bounds[k] : bounds[k + 1]]] = True
    return inside


def _join(exprs: list[str]) -> str | None:
    """``AND`` of unique expressions, in order; an ``OR`` one in parentheses."""
    uniq = list(dict.fromkeys(e for e in exprs if e))
    if len(uniq) == 1:
        return uniq[0]
    return " AND ".join(f"({e})" if " OR " in e else e for e in uniq) or None


def _classify_text(head: str, min_coverage: float, approximate: bool = True) -> dict[str, Any]:
    """ScanCode's pipeline with our matchers: SPDX tags, exact rule matches (refined as ScanCode does) and
    license texts (3-gram containment, standing in for ScanCode's approximate stage), grouped into
    detections by lines and combined with ``AND`` in file order. One tokenisation serves both matchers."""
    ix = rules.rule_index()
    index = None if approximate else _index()
    tokens, line = ix.tokenize(head)
    n = len(tokens)
    ids = ix.lookup(tokens)
    known = (ids >= 0) & (ids < ix.n_words)
    kpos = np.flatnonzero(known)  # rule matching runs on known words (ScanCode skips unknown ones)
    unknown_before = np.cumsum(ids == -1)[known]
    # SPDX-License-Identifier tags (ScanCode's spdx-lid stage; matching goes on for the rest of the file)
    tags = []
    found_tags = list(_SPDX_TAG.finditer(head))
    if found_tags:
        nl = np.flatnonzero(np.frombuffer(head.encode("utf-32-le"), dtype=np.uint32) == 10)
        for t in found_tags:
            expr = rules.spdx_expression(ix, t.group(1).strip())
            ln = int(np.searchsorted(nl, t.start()))
            a, b = np.searchsorted(line, ln), np.searchsorted(line, ln, "right")
            if expr:
                tags.append((int(a), int(max(b, a + 1)), ln, expr))
    raw = ix.exact(ids[known])
    seq = None
    if approximate:  # a tag line is matched: ScanCode subtracts it from what the later stages read
        on_tag = np.zeros(n + 1, dtype=np.int64)
        for a, b, _, _ in tags:
            on_tag[a] += 1
            on_tag[b] -= 1
        blocked = (np.cumsum(on_tag)[:n] > 0)[known]
        seq = approx.approximate(
            ix, approx.approx_index(), ids[known], line[known], unknown_before, raw, blocked
        )
    m = rules.refine(ix, raw, unknown_before, seq)
    ms, me = kpos[m.start], kpos[m.end - 1] + 1  # token spans of the rule matches
    if approximate:  # the approximate stage reads license texts as ScanCode does: no 3-gram stage
        text_pos = tri = np.zeros(0, dtype=np.int64)
        text_ids, chosen = tri, []
    else:
        text_ids, text_keep = _text_view(head, index, tokens, line, ids)
        text_pos = np.flatnonzero(text_keep)  # text-matcher position -> token position
        tri = index.doc_trigrams(text_ids)
        chosen, _ = index.match(tri, min_coverage)
    # a rule match mostly inside a found license text is part of that text (ScanCode: a contained match); a
    # license-text rule that holds most of a found text is ScanCode's own, more specific, reading of it
    text_items: list[tuple[int, int, tuple]] = []
    in_text = np.zeros(n + 1, dtype=bool)
    preferred = np.zeros(len(m.rule), dtype=bool)
    lens = me - ms
    big = (ix.flags[m.rule] & rules.TEXT) != 0
    long_m = lens >= _EXACT_MIN_WORDS
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, ms[long_m], 1)
    np.add.at(cover, me[long_m], -1)
    exact_cover = np.cumsum(cover)[:-1] > 0
    for c in chosen:
        inside = _main_region(text_pos[_tokens_covered(c[3], len(text_ids))], n)
        cum = np.concatenate(([0], np.cumsum(inside)))
        share_of_text = (cum[me] - cum[ms]) / max(int(inside.sum()), 1)
        in_text[:n] |= inside
        holder = big & (share_of_text >= 0.9) & (lens >= 0.9 * inside.sum())
        if holder.any():
            preferred |= holder
            continue
        # the exact stage explains most of the text's words (rule matches of >= _EXACT_MIN_WORDS) with other
        # ids: ScanCode's exact stage runs first and decides, the approximate text gives way (CPython's
        # license history is ScanCode's Python-2.0 rules, not the Python-2.0.1 text; a Debian stanza's
        # MIT rule, not the X11 text that resembles it)
        covered_by_exact = exact_cover & inside[:n]
        in_region = long_m & ((cum[me] - cum[ms]) > 0)
        if covered_by_exact.sum() >= _EXACT_EXPLAINS * inside.sum() and index.spdx[c[0]] not in set().union(
            *[rules._ids(ix.exprs[e]) for e in np.unique(ix.expr[m.rule[in_region]])]
        ):
            preferred |= in_region
            continue
        where = np.flatnonzero(inside)
        text_items.append((int(where[0]), int(where[-1]) + 1, c))
    keep = np.ones(len(m.rule), dtype=bool)
    if len(m.rule):
        cum = np.concatenate(([0], np.cumsum(in_text[:n])))
        keep = ((cum[me] - cum[ms]) / lens < 0.5) | preferred
        for a, b, _, _ in tags:  # the words of a tag line are the tag's
            keep &= (me <= a) | (ms >= b)
    r = m.rule[keep]
    n_text, n_tag = len(text_items), len(tags)
    s = np.concatenate([ms[keep], [t[0] for t in text_items], [t[0] for t in tags]]).astype(np.int64)
    e = np.concatenate([me[keep], [t[1] for t in text_items], [t[1] for t in tags]]).astype(np.int64)
    line_end = np.append(line, line[-1] if n else 0)
    detections = rules.detect(
        tokens, s, e,
        np.concatenate([line[ms[keep]], line[[t[0] for t in text_items]], [t[2] for t in tags]]).astype(np.int64),
        np.concatenate([line_end[me[keep] - 1], line_end[[t[1] - 1 for t in text_items]], [t[2] for t in tags]]).astype(np.int64),
        np.concatenate([ix.flags[r], np.full(n_text, rules.TEXT), np.zeros(n_tag, dtype=np.int64)]),
        np.concatenate([ix.relevance[r], np.full(n_text + n_tag, 100)]),
        np.concatenate([ix.length[r], np.full(n_text + n_tag, 100)]),
        [ix.expression(x) for x in r] + [index.spdx[t[2][0]] for t in text_items] + [t[3] for t in tags],
    )  # fmt: skip
    # as ScanCode: one detection's expressions ANDed, the file's unique detections ANDed; an exception found
    # apart from its license stays an AND term (WITH comes from a rule or a tag)
    spdx = _join([_join(exprs) for _, exprs in detections])
    if spdx:
        from_text = bool(text_items) or bool((ix.flags[r] & rules.TEXT).any())
        method = "spdx_tag" if tags else "text" if from_text else "notice"
        if approximate:  # the least covered rule among the matches kept (exact ones: 1)
            score = round(float(m.coverage[keep].min(initial=1.0)), 4) if not tags else 1.0
        else:
            score = round(text_items[0][2][2], 4) if text_items and not tags else 1.0
        return {"spdx": spdx, "category": category_of(spdx), "method": method, "score": score}
    if len(head) <= 200 and len(norm := normalize(head)) <= 60:
        for pattern, name_id in _NAMES:
            if re.fullmatch(pattern, norm):
                return {"spdx": name_id, "category": category_of(name_id), "method": "name", "score": 1.0}
    score = float((index.overlap(tri) / index.sizes).max(initial=0)) if len(tri) else 0.0
    if approximate and len(seq.rule if seq is not None else ()):
        score = float(seq.coverage.max())  # the best approximate match found, though none was kept
    return {"spdx": None, "category": "unknown", "method": "none", "score": round(score, 4)}


class LicenseClassifier(Step):
    """Batched step: adds ``license_spdx``, ``license_category``, ``license_method`` and ``license_error``."""

    name = "license"

    def __init__(
        self,
        text_column: str = "content",
        min_coverage: float = 0.5,
        max_chars: int = 200_000,
        approximate: bool = True,
    ):
        self.text_column = text_column
        self.min_coverage = min_coverage
        self.max_chars = max_chars
        self.approximate = approximate

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        out: Batch = {f"{self.name}_{k}": [] for k in ("spdx", "category", "method", "error")}
        for value in batch[self.text_column]:
            text, err = decode_cell(value, 1 << 62)  # classify() itself reads only the first max_chars
            r = (
                classify(text, self.min_coverage, self.max_chars, self.approximate)
                if text is not None
                else {"spdx": None, "category": "unknown", "method": "none"}
            )
            for k in ("spdx", "category", "method"):
                out[f"{self.name}_{k}"].append(r[k])
            out[f"{self.name}_error"].append(err)
        return out


_LICENSE_FILE = re.compile(r"(?i)(?:^|/)(?:license|licence|copying|unlicense|copyright)(?:[._-][^/]*)?$")


_SKIP_DIRS = {"node_modules", "vendor", "third_party", "site-packages", "venv", "__pycache__"}


def _read_tree(root: Path, max_files: int) -> dict[str, str]:
    """Text of up to ``max_files`` files under ``root``; hidden and vendored folders are skipped."""
    import os

    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    out: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(names):
            if len(out) >= max_files:
                return out
            path = Path(folder) / name
            try:
                with open(path, "rb") as fh:
                    out[str(path.relative_to(root))] = fh.read(200_000).decode("utf-8", errors="replace")
            except OSError:
                continue
    return out


# files that state a repository's license choice: README text or a package manifest's license field
_README = re.compile(r"(?i)(?:^|/)readme(?:\.[a-z]+)?$")
_MANIFEST_LICENSE = {
    "Cargo.toml": re.compile(r"(?m)^\s*license\s*=\s*\"([^\"]+)\""),
    "package.json": re.compile(r"\"license\"\s*:\s*\"([^\"]+)\""),
    "pyproject.toml": re.compile(r"(?m)^\s*license\s*=\s*(?:\{\s*text\s*=\s*)?\"([^\"]+)\""),
    "setup.cfg": re.compile(r"(?m)^\s*license\s*=\s*(.+?)\s*$"),
}
_README_CHOICE = re.compile(
    r"(?i)\b(?:dual[- ]licen[sc]ed|licen[sc]ed under (?:either|one of)|at your (?:option|choice)|"
    r"choose (?:either|one of)|under the terms of either)\b"
)
# ``LICENSE-MIT``, ``LICENSE.APACHE``, ``COPYING-GPL``: a file per license of a multi-licensed project
_PER_LICENSE_FILE = re.compile(r"(?i)(?:^|/)(?:license|licence|copying)[._-](?!txt$|md$|rst$)[a-z0-9.+-]+$")


@lru_cache(maxsize=1)
def spdx_licensing():
    """``license_expression``'s SPDX licensing (cached): parses with SPDX precedence (AND binds tighter)."""
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def combine_expressions(expressions: Sequence[str], relation: str = "AND") -> str | None:
    """One valid SPDX expression from several: each is parsed (so ``A OR B`` keeps its own grouping), the
    parts are joined by ``relation`` and duplicate ids removed; rendered with the parentheses SPDX needs.

    Args:
        expressions: SPDX expressions (``LicenseRef-*`` allowed); empty ones are skipped.
        relation: ``"AND"`` (all apply) or ``"OR"`` (a choice).
    """
    if relation not in ("AND", "OR"):
        raise ValueError(f"relation must be 'AND' or 'OR', got {relation!r}")
    lic = spdx_licensing()
    op = lic.AND if relation == "AND" else lic.OR
    parts: dict[str, Any] = {}
    for e in expressions:
        if not e:
            continue
        parsed = lic.parse(e, validate=False)
        # ``A AND (B AND C)`` is ``A AND B AND C``: same-operator parts are flattened before duplicates go
        for arg in parsed.args if isinstance(parsed, op) else (parsed,):
            parts.setdefault(str(arg), arg)
    if not parts:
        return None
    args = list(parts.values())
    return str(lic.dedup(args[0] if len(args) == 1 else op(*args)))


def _declared_choice(files: Mapping[str, str]) -> tuple[str | None, bool]:
    """A manifest's declared expression (``MIT OR Apache-2.0``) and whether a README says the license is a
    choice ("dual-licensed", "at your option"), from the repository's top-level files."""
    declared = None
    for path, text in files.items():
        if "/" in path.strip("/"):
            continue
        rx = _MANIFEST_LICENSE.get(path)
        m = rx.search(text) if rx else None
        if m and re.search(r"\bOR\b|\bAND\b|^[A-Za-z0-9.+-]+$", m.group(1).strip()):
            try:
                declared = str(spdx_licensing().parse(m.group(1).replace("/", " OR "), validate=False))
            except Exception:  # a free-text license field is not an expression: ignored
                continue
    readme_or = any(_README.search(p) and _README_CHOICE.search(t) for p, t in files.items() if "/" not in p)
    return declared, readme_or


def classify_repository(files: Mapping[str, str] | str | Path, max_files: int = 5000) -> dict[str, Any]:
    """Roll file results up to a repository, as The Stack did: license files decide, headers back them up.

    The license files' expressions combine into one valid SPDX expression (``license_expression``: SPDX
    precedence, parentheses, unique ids). They are alternatives (``OR``) when the project ships one file per
    license (``LICENSE-MIT`` + ``LICENSE-APACHE``), when its manifest declares an ``OR`` expression
    (Cargo.toml, package.json, pyproject.toml, setup.cfg) or when its README says the license is a choice
    ("dual-licensed", "at your option"); otherwise all apply (``AND``).

    Args:
        files: ``{path: text}`` or a directory.
        max_files: files read at most from a directory.

    Returns ``spdx``, ``category`` (of the expression: ``OR`` takes the most permissive part), ``relation``
    (``"AND"``/``"OR"``/``None``), ``license_files``, per-file ``files`` results, ``counts`` of SPDX
    expressions over all files, and ``permissive``: True when the expression and every other file's license
    are permissive or public domain (The Stack's inclusion rule).
    """
    if isinstance(files, (str, Path)):
        files = _read_tree(Path(files), max_files)
    results = {path: classify(text) for path, text in files.items()}
    license_files = sorted(p for p in results if _LICENSE_FILE.search(p))
    top = [p for p in license_files if "/" not in p.strip("/")]  # the repository's own license files first
    license_files = top or license_files
    from_files = list(dict.fromkeys(results[p]["spdx"] for p in license_files if results[p]["spdx"]))
    counts = Counter(r["spdx"] for r in results.values() if r["spdx"])
    declared, readme_or = _declared_choice(files)
    relation = None
    if len(from_files) > 1:
        per_license = [p for p in license_files if _PER_LICENSE_FILE.search(p) and results[p]["spdx"]]
        declared_or = declared is not None and " OR " in declared
        relation = "OR" if (len(per_license) > 1 or declared_or or readme_or) else "AND"
        spdx = combine_expressions(from_files, relation)
    elif from_files:
        spdx = combine_expressions(from_files)
    elif declared:
        spdx, relation = combine_expressions([declared]), None
    else:
        spdx = combine_expressions([counts.most_common(1)[0][0]]) if counts else None
    # other files' own licenses (headers, vendored code); READMEs and manifests only describe the roll-up
    described = {p for p in results if _README.search(p) or p.rsplit("/", 1)[-1] in _MANIFEST_LICENSE}
    others = {
        category_of(s)
        for p, r in results.items()
        if (s := r["spdx"]) and p not in license_files and p not in described
    }
    cats = others | ({category_of(spdx)} if spdx else set())
    return {
        "spdx": spdx,
        "category": category_of(spdx),
        "relation": relation,
        "license_files": license_files,
        "permissive": bool(cats) and cats <= {"permissive", "public_domain"},
        "counts": dict(counts),
        "files": results,
    }


def evaluate_agreement(pairs: Sequence[tuple[str | None, str | None]]) -> float:
    """Share of (ours, reference) SPDX pairs that agree once ``-only``/``-or-later`` suffixes are dropped."""

    def base(s: str | None) -> str:
        return re.sub(r"-(?:only|or-later)$|\+$", "", (s or "").strip()).lower()

    return sum(base(a) == base(b) for a, b in pairs) / max(len(pairs), 1)


classify_license = (
    classify  # the name exported from ``hf_addons.data`` (``classify`` alone is ambiguous there)
)
