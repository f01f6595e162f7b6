"""License classification of code files and license texts: SPDX id + category, and a repository roll-up.

Three signals, strongest first: an ``SPDX-License-Identifier`` tag; the texts of known licenses anywhere in
the file (word 3-gram containment against the reference texts shipped in ``license_data/``: the 47
choosealicense.com texts plus ScanCode's texts of the other SPDX-listed licenses and exceptions; robust to
reflowing, changed copyright lines and comment markers, since only lowercase word tokens are compared); and
the standard short notices ("Licensed under the Apache License, Version 2.0", "either version 2 of the
License, or (at your option) any later version", dual-license pointers ...) in the text no license matched.
Several licenses in one file are found greedily, each on the part of the file the earlier ones left
uncovered (as ScanCode matches disjoint regions), and joined with ``AND`` (``WITH`` for one license plus an
exception, ``OR`` for dual-license notices). Categories: choosealicense's conditions for its 47 texts,
ScanCode's category for the rest (Permissive, Copyleft Limited -> weak_copyleft, Copyleft -> strong_copyleft,
Public Domain; anything else -> unknown) unless choosealicense has the family (CC-BY-SA-3.0 as CC-BY-SA-4.0).

Also read: Debian machine-readable ``copyright`` files (DEP-5, by their ``Format:`` header), whose
``License:`` fields name licenses by Debian short names (``GPL-2+``, ``Expat``, ``Artistic or GPL-1+``,
``GPL-3+ with Bison exception``); Debian's ``/usr/share/common-licenses/<name>`` pointers; and a license
statement after a copyright holder. Texts of two licenses that near-tie go to the more common one (the number
of ScanCode rules naming it), as ScanCode prefers; ScanCode's own non-SPDX licenses are in the reference set
when ScanCode's rules name them often (``LicenseRef-scancode-<key>``).
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
from hf_addons.data.secrets import decode_cell

DATA_FILE = Path(__file__).resolve().parent / "license_data" / "licenses.json"
SPDX_DATA_FILE = Path(__file__).resolve().parent / "license_data" / "scancode-spdx.json.xz"
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
# standard notices, matched on the normalised (lowercase words, single spaces) text the license texts left over
_GNU_NOTICE = re.compile(
    r"gnu (affero |lesser |library )?general public license(?: as published by the free software foundation)?"
    r"[^0-9]{0,60}?v(?:ersion)? ?([123])(?: ([01]))?( of the license)?"
    r"(?: or (?:at your option )?(?:any )?(?:later|newer|higher)| or later|(?: or)? any later)?"
)
_NOTICES: tuple[tuple[str, str], ...] = (
    (r"apache license,? version 2 0|apache license v2 0|apache 2 0 license", "Apache-2.0"),
    (r"mozilla public license,? v(?:ersion)? 2 0", "MPL-2.0"),
    (r"mozilla public license,? v(?:ersion)? 1 1", "MPL-1.1"),
    (r"eclipse public license v(?:ersion)? 2 0", "EPL-2.0"),
    (r"eclipse public license v(?:ersion)? 1 0", "EPL-1.0"),
    (r"boost software license", "BSL-1.0"),
    (r"(?:licensed|released|distributed|available) under (?:the )?(?:terms of the )?mit license|^mit license",
     "MIT"),
    (r"(?:new|revised|3 clause) bsd license|bsd 3 clause", "BSD-3-Clause"),
    (r"(?:simplified|2 clause|freebsd) bsd license|bsd 2 clause", "BSD-2-Clause"),
    (r"isc license", "ISC"),
    (r"python software foundation license", "PSF-2.0"),
    (r"cnri s python|cnri python", "CNRI-Python"),
    (r"(?:under|of) the zlib license", "Zlib"),
    (r"(?:released|dedicated|placed) (?:in)?to the public domain|this is free and unencumbered software"
     r"|(?:is|are) in (?:the )?public domain",
     "LicenseRef-public-domain"),
)  # fmt: skip
# Debian's pointers to /usr/share/common-licenses/<name>; an unversioned GNU name means any version (the GPL's
# own rule: "If the Program does not specify a version number ... you may choose any version")
_DEBIAN_POINTER = re.compile(
    r"usr share common licenses (gpl|lgpl|agpl|gfdl|artistic|apache|bsd|mpl|cc0)(?: (\d+)(?: (\d+))?)?"
)
_POINTER_IDS = {"gpl": "GPL-1.0-or-later", "lgpl": "LGPL-2.0-or-later", "gfdl": "GFDL-1.1-or-later",
                "artistic": "Artistic-1.0-Perl", "bsd": "BSD-3-Clause", "apache": "Apache-2.0", "mpl": "MPL-1.1",
                "cc0": "CC0-1.0", "agpl": "AGPL-3.0-or-later"}  # fmt: skip
# "either of ... A or B", "dual licensed under A and B", "A or B at your option": the names then form an OR
_DUAL_CUE = re.compile(
    r"dual licensed|dual license|either of|licensed under either|at your (?:option|choice)"
)
_LICENSE_NAMES: tuple[tuple[str, str], ...] = (
    (r"apache(?: software)?(?: license)?(?:,? (?:version|v) ?| )?2(?: 0)?|license apache", "Apache-2.0"),
    (r"\bmit\b(?: license)?|license mit", "MIT"),
    (r"bsd 2 clause|simplified bsd", "BSD-2-Clause"),
    (r"\bbsd\b(?: 3 clause)?(?: license)?|license bsd", "BSD-3-Clause"),
    (r"\bisc\b", "ISC"),
    (r"mozilla public license(?: version)? 2 0|\bmpl 2 0", "MPL-2.0"),
    (r"\bunlicense\b", "Unlicense"),
    (r"\bzlib\b", "Zlib"),
    (r"\bcc0\b", "CC0-1.0"),
    (r"mozilla public license(?: version)? 1 1|\bmpl 1 1", "MPL-1.1"),
    (r"\bgpl ?v?2(?: 0)?\b", "GPL-2.0-only"),
    (r"\bgpl ?v?3(?: 0)?\b", "GPL-3.0-only"),
    (r"\blgpl ?v?2 1\b", "LGPL-2.1-only"),
    (r"\blgpl ?v?3(?: 0)?\b", "LGPL-3.0-only"),
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
# how an exception's text names the license it amends (family = the letters that start the SPDX id)
_FAMILY_WORDS = {"gpl": r"\bgpl|general public license", "lgpl": r"lgpl|lesser general public|library general public",
                 "agpl": r"agpl|affero", "apache": r"\bapache\b"}  # fmt: skip
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
        known = _index().category
        cat = (
            known.get(base)
            or known.get(base.removesuffix("-only"))
            or known.get(base.removesuffix("-or-later"))
        )
        if cat == "exception":  # an exception alone ("MIT AND fmt-exception") does not set the category
            return None
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
        self.exception_text = {r["spdx"]: normalize(r["text"]) for r in refs if r["category"] == "exception"}
        self.is_exception = np.array([r["category"] == "exception" for r in refs])
        self.vocab: dict[str, int] = {}
        self.ref_keys = []
        for r in refs:
            tokens = normalize(r["text"]).split()
            ids = np.array([self.vocab.setdefault(t, len(self.vocab)) for t in tokens], dtype=np.int64)
            self.ref_keys.append(np.unique(self._trigrams(ids)))
        self.sizes = np.array([len(k) for k in self.ref_keys], dtype=np.float64)
        all_keys = np.concatenate(self.ref_keys)
        owners = np.concatenate([np.full(len(k), i) for i, k in enumerate(self.ref_keys)])
        order = np.argsort(all_keys, kind="stable")
        all_keys, owners = all_keys[order], owners[order]
        self.keys, starts = np.unique(all_keys, return_index=True)
        self.starts = np.append(starts, len(all_keys))
        self.owners = owners

    _UNKNOWN = (1 << 20) - 1  # id of a word no reference has: its 3-grams match nothing

    def _trigrams(self, ids: np.ndarray) -> np.ndarray:
        if len(ids) < 3:
            return np.zeros(0, dtype=np.int64)
        v = 1 << 20
        return (ids[:-2] * v + ids[1:-1]) * v + ids[2:]

    def doc_trigrams(self, tokens: list[str]) -> np.ndarray:
        """The text's 3-gram keys, one per position."""
        if len(tokens) < 3:
            return np.zeros(0, dtype=np.int64)
        uniq, inverse = np.unique(np.array(tokens), return_inverse=True)
        gid = np.array([self.vocab.get(t, self._UNKNOWN) for t in uniq.tolist()], dtype=np.int64)[inverse]
        return self._trigrams(gid)

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

    def match(self, tri: np.ndarray, min_coverage: float) -> tuple[list[tuple[int, int, float]], np.ndarray]:
        """Greedy disjoint matching: ``[(ref, first position, coverage)]`` and the covered-position mask.

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
        chosen: list[tuple[int, int, float]] = []
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
            chosen.append((best, int(np.argmax(member & ~covered)), float(inter[best] / self.sizes[best])))
            covered |= member
            remaining.remove(best)
        chosen.sort(key=lambda c: c[1])
        return chosen, covered


@lru_cache(maxsize=1)
def _index() -> _Index:
    if not DATA_FILE.exists():
        raise FileNotFoundError(f"license reference data missing: {DATA_FILE} (package data not installed?)")
    refs = json.loads(DATA_FILE.read_text())["licenses"]
    popularity: dict[str, int] = {}
    if SPDX_DATA_FILE.exists():
        payload = json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))
        refs = refs + payload["licenses"]
        popularity = payload.get("popularity", {})
    return _Index(refs, popularity)


def _notices(segments: list[str]) -> str | None:
    """An SPDX expression from standard notices and dual-license pointers in the unmatched text, or None."""
    found: list[tuple[int, str]] = []
    dual: list[str] = []
    for k, seg in enumerate(segments):
        off = k * 1_000_000  # keeps the file order across segments
        for m in _GNU_NOTICE.finditer(seg):
            family = {"affero ": "AGPL", "lesser ": "LGPL", "library ": "LGPL"}.get(m.group(1) or "", "GPL")
            version = f"{m.group(2)}.{m.group(3) or 0}"
            if family == "LGPL" and version == "2.0" and m.group(1) == "lesser ":
                version = "2.1"
            later = m.group(0).endswith(("later", "newer", "higher"))
            found.append((off + m.start(), f"{family}-{version}-{'or-later' if later else 'only'}"))
        for m in _DEBIAN_POINTER.finditer(seg):
            name, major, minor = m.groups()
            spdx = _POINTER_IDS[name]
            if major:
                spdx = _debian_id(f"{name}-{major}.{minor or 0}") or spdx
            elif "should have received a copy" in seg[max(0, m.start() - 150) : m.start()]:
                continue  # the standard GNU notice's own pointer: the notice already gave the version
            found.append((off + m.start(), spdx))
        for pattern, spdx in _NOTICES:
            if m := re.search(pattern, seg):
                found.append((off + m.start(), spdx))
        for cue in _DUAL_CUE.finditer(seg):
            window = seg[max(0, cue.start() - 120) : cue.end() + 200]
            names = sorted(
                ((m.start(), spdx) for pattern, spdx in _LICENSE_NAMES for m in re.finditer(pattern, window)),
            )
            ids = list(dict.fromkeys(spdx for _, spdx in names))
            if len(ids) >= 2:
                dual = ids
                break
    if dual:
        rest = [s for _, s in sorted(found) if s not in dual]
        return " AND ".join(
            [" OR ".join(dual) if not rest else f"({' OR '.join(dual)})", *dict.fromkeys(rest)]
        )
    ids = list(dict.fromkeys(s for _, s in sorted(found)))
    return " AND ".join(ids) if ids else None


def _expression(index: _Index, chosen: list[tuple[int, int, float]]) -> str:
    """License texts found, in file order, as ``AND``; one license plus exceptions as ``L WITH E``."""
    ids = list(dict.fromkeys(index.spdx[j] for j, _, _ in chosen))
    exc = [i for i in ids if index.category.get(i) == "exception"]
    lic = [i for i in ids if i not in exc]
    if len(lic) == 1 and exc:
        family = re.match(r"[A-Za-z]*", lic[0]).group(0).lower()
        words = _FAMILY_WORDS.get(family, rf"\b{family}\b")
        # WITH only for an exception written against that license ("exceptions to the Apache 2.0 License");
        # a generic one (fmt's "as an exception ...") stays a separate AND term, as ScanCode reports it
        attached = [e for e in exc if family and re.search(words, index.exception_text[e])]
        if attached:
            rest = [e for e in exc if e != attached[0]]
            return " AND ".join([f"{lic[0]} WITH {attached[0]}", *rest])
    return " AND ".join(ids)


# Debian machine-readable copyright files (DEP-5): https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
_DEP5_FORMAT = re.compile(
    r"\A\s*Format:\s*<?https?://(?:www\.debian\.org/doc/packaging-manuals/copyright-format/|dep\.debian\.net/deps/dep5)",
    re.IGNORECASE,
)
_DEP5_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*)$")
# the spec's standard short names that are not SPDX ids (case-insensitive; versions and "+" are handled apart);
# bare "Artistic" is Perl's (Debian's /usr/share/common-licenses/Artistic), "Perl" is the spec's
# "GPL-1+ or Artistic" shorthand
_DEBIAN_NAMES = {
    "expat": "MIT", "mit/x11": "MIT", "public-domain": "LicenseRef-public-domain", "pd": "LicenseRef-public-domain",
    "artistic": "Artistic-1.0-Perl", "artistic-1": "Artistic-1.0", "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "bsd-2": "BSD-2-Clause", "bsd-3": "BSD-3-Clause", "bsd-4": "BSD-4-Clause", "zope": "ZPL", "python": "Python",
    "apache": "Apache", "cc0": "CC0-1.0", "gfdl-niv": "GFDL-no-invariants", "fsf-unlimited": "FSFULLR",
}  # fmt: skip
# families whose unversioned name means "any version" (the GPL's own rule), as ScanCode reads them
_DEBIAN_UNVERSIONED = {"gpl": "GPL-1.0-or-later", "lgpl": "LGPL-2.0-or-later", "agpl": "AGPL-3.0-or-later",
                       "gfdl": "GFDL-1.1-or-later", "mpl": "MPL-1.1", "apache": "Apache-2.0"}  # fmt: skip
_DEBIAN_NAME = re.compile(
    r"(?i)^(?P<fam>[a-z][a-z0-9.\-/]*?)(?:[- ]?v?(?P<ver>\d+(?:\.\d+)*))?(?P<plus>\+|\s+or\s+later)?"
    r"(?:\s+with\s+(?P<exc>[\w.\-]+)\s+exceptions?)?$"
)


@lru_cache(maxsize=1)
def _known_ids() -> dict[str, str]:
    """Lowercased SPDX ids of the reference texts (plus the ids only notices give) -> the id."""
    ids = set(_index().spdx) | {"LicenseRef-public-domain"}
    return {i.lower(): i for i in ids}


def _debian_id(name: str) -> str | None:
    """One DEP-5 short name ("GPL-2+", "LGPLv2.1+", "BSD-3-clause", "Expat", "GPL-2+ with OpenSSL exception")
    as an SPDX expression, or None when it is not a standard name (a package-specific one such as "BSD-3-google")."""
    known = _known_ids()
    name = name.strip().strip(",;")
    if not name:
        return None
    if spdx := known.get(name.lower()) or _DEBIAN_NAMES.get(name.lower()):
        return {"ZPL": "ZPL-2.1", "Python": "Python-2.0", "Apache": "Apache-2.0"}.get(spdx, spdx)
    m = _DEBIAN_NAME.match(name)
    if not m:
        return None
    fam, ver, plus, exc = m.group("fam").lower(), m.group("ver"), bool(m.group("plus")), m.group("exc")
    fam = fam.removesuffix("-clause") if re.fullmatch(r"bsd-\d-clause", fam) else fam
    if re.fullmatch(r"bsd-\d", fam):
        ver, fam = fam[-1], "bsd"
    base = None
    if fam == "bsd" and ver:
        base = f"BSD-{ver}-Clause"
    elif ver is None:
        base = known.get(name.lower()) or _DEBIAN_NAMES.get(fam) or _DEBIAN_UNVERSIONED.get(fam)
        if base in ("ZPL", "Python"):  # unversioned names of families SPDX only knows versioned
            base = {"ZPL": "ZPL-2.1", "Python": "Python-2.0"}[base]
    else:
        stem = _DEBIAN_NAMES.get(fam, fam)
        if stem == "Artistic-1.0-Perl":
            stem = "artistic"
        v = ver if "." in ver else f"{ver}.0"
        for cand in (f"{stem}-{v}", f"{stem}-{ver}", f"{stem}-{v}-only"):
            if cand.lower() in known:
                base = known[cand.lower()]
                break
        if base and plus:
            base = known.get(f"{base.removesuffix('-only')}-or-later".lower(), base)
    if base is None:
        return known.get(name.lower())
    if plus and base.endswith("-only"):
        base = base.removesuffix("-only") + "-or-later"
    if exc:  # the exception's SPDX id; of several versions the one of the license's version, else the newest
        cands = sorted(
            i
            for k, i in known.items()
            if k.startswith(exc.lower()) and _index().category.get(i) == "exception"
        )
        version = re.search(r"-(\d\.\d)", base)
        same = [c for c in cands if version and c.endswith(version.group(1))]
        if cands:
            return f"{base} WITH {(same or cands)[-1]}"
    return base


def _debian_expression(synopsis: str) -> str | None:
    """A DEP-5 ``License:`` synopsis ("Artistic or GPL-1+", "GPL-2+ and BSD-3-clause") as an SPDX expression;
    None when any name is not a standard one."""
    parts = [p for p in re.split(r"\s*(?:,\s*)?\b(or|and)\b\s*|\s*,\s*", synopsis.strip()) if p]
    out: list[str] = []
    for p in parts:
        if p.lower() in ("or", "and"):
            out.append(p.upper())
            continue
        spdx = _debian_id(p)
        if spdx is None:
            return None
        out.append(f"({spdx})" if " OR " in spdx else spdx)
    while out and out[-1] in ("OR", "AND"):
        out.pop()
    return " ".join(x if x in ("OR", "AND") or i == 0 or out[i - 1] in ("OR", "AND") else f"AND {x}"
                    for i, x in enumerate(out)) or None  # fmt: skip


def _dep5(text: str) -> tuple[list[str], str] | None:
    """A DEP-5 file's license expressions (its ``License:`` synopses, file order) and the text left to match
    as usual (the bodies of licenses whose short name is not a standard one, and every non-License field).
    None when ``text`` is not a DEP-5 file."""
    if not _DEP5_FORMAT.match(text):
        return None
    exprs: list[str] = []
    rest: list[str] = []
    field, synopsis, body = None, "", []

    def flush() -> None:
        if field == "license":
            spdx = _debian_expression(synopsis)
            if spdx:  # a standard name decides (its body is that license's text or notice)
                exprs.append(spdx)
            else:  # a custom name: its text decides
                rest.extend(body)
        elif field is not None:
            rest.extend([synopsis, *body])

    for line in text.splitlines():
        if m := _DEP5_FIELD.match(line):
            flush()
            field, synopsis, body = m.group(1).lower(), m.group(2), []
        elif line[:1] in (" ", "\t") and field is not None:
            body.append("" if line.strip() == "." else line)
        else:  # a blank line ends a paragraph
            flush()
            field, synopsis, body = None, "", []
            rest.append(line)
    flush()
    return list(dict.fromkeys(exprs)), "\n".join(rest)


def classify(text: str, min_coverage: float = 0.5, max_chars: int = 200_000) -> dict[str, Any]:
    """Classify one file or license text: ``{"spdx", "category", "method", "score"}``.

    ``method`` is ``spdx_tag``, ``text`` (reference texts found; ``score`` = share of the first one's
    3-grams present; notices in the rest of the file are added), ``notice`` (standard short notices or a
    dual-license pointer only), ``name`` (the whole file is a license name such as "Apache 2.0"), ``dep5``
    (a Debian machine-readable ``copyright`` file: its ``License:`` fields, ANDed, plus what the rest gives)
    or ``none``. Only the first ``max_chars`` are read (licenses sit at the top of files); binary-looking input
    gives ``method="binary"``.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"classify() needs str or bytes, got {type(text).__name__}")
    head = text[:max_chars]
    if "\x00" in head[:8192]:
        return {"spdx": None, "category": "unknown", "method": "binary", "score": 0.0}
    if (dep5 := _dep5(head)) is not None:  # License: fields name the licenses; the rest is read as usual
        exprs, rest = dep5
        other = classify(rest, min_coverage, max_chars)["spdx"] if rest.strip() else None
        terms = [f"({e})" if " OR " in e else e for e in exprs]
        if other:
            terms += other.split(" AND ") if "(" not in other else [other]
        spdx = " AND ".join(dict.fromkeys(terms)) or None
        return {"spdx": spdx, "category": category_of(spdx), "method": "dep5", "score": 1.0}
    if m := _SPDX_TAG.search(head):
        expr = m.group(1).strip()
        return {"spdx": expr, "category": category_of(expr), "method": "spdx_tag", "score": 1.0}
    index = _index()
    norm = normalize(head)
    tokens = norm.split()
    tri = index.doc_trigrams(tokens)
    chosen, covered = index.match(tri, min_coverage)
    if chosen:  # the words no license text covered: a token is covered by any 3-gram it belongs to
        tok_cov = np.zeros(len(tokens), dtype=bool)
        for o in range(3):
            tok_cov[o : o + len(covered)] |= covered
        bounds = np.flatnonzero(np.diff(np.concatenate(([1], tok_cov.astype(np.int8), [1]))))
        segments = [" ".join(tokens[a:b]) for a, b in zip(bounds[::2], bounds[1::2]) if b - a >= 3]
    else:
        segments = [norm]
    notice = _notices(segments)
    if chosen:
        spdx = _expression(index, chosen)
        if notice and notice not in spdx:
            spdx = f"{spdx} AND {notice if ' OR ' not in notice else f'({notice})'}"
        return {"spdx": spdx, "category": category_of(spdx), "method": "text",
                "score": round(chosen[0][2], 4)}  # fmt: skip
    if len(norm) <= 60:
        for pattern, spdx in _NAMES:
            if re.fullmatch(pattern, norm):
                return {"spdx": spdx, "category": category_of(spdx), "method": "name", "score": 1.0}
    if notice:
        return {"spdx": notice, "category": category_of(notice), "method": "notice", "score": 1.0}
    score = float((index.overlap(tri) / index.sizes).max(initial=0)) if len(tri) else 0.0
    return {"spdx": None, "category": "unknown", "method": "none", "score": round(score, 4)}


class LicenseClassifier(Step):
    """Batched step: adds ``license_spdx``, ``license_category``, ``license_method`` and ``license_error``."""

    name = "license"

    def __init__(self, text_column: str = "content", min_coverage: float = 0.5, max_chars: int = 200_000):
        self.text_column = text_column
        self.min_coverage = min_coverage
        self.max_chars = max_chars

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        out: Batch = {f"{self.name}_{k}": [] for k in ("spdx", "category", "method", "error")}
        for value in batch[self.text_column]:
            text, err = decode_cell(value, 1 << 62)  # classify() itself reads only the first max_chars
            r = (
                classify(text, self.min_coverage, self.max_chars)
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


def classify_repository(files: Mapping[str, str] | str | Path, max_files: int = 5000) -> dict[str, Any]:
    """Roll file results up to a repository, as The Stack did: license files decide, headers back them up.

    ``files``: ``{path: text}`` or a directory. Returns ``spdx`` (the license files' ids, ``" AND "``-joined
    when several differ), ``category`` (the strictest), ``license_files``, per-file ``files`` results and
    ``counts`` of SPDX ids over all files. ``permissive`` is True when every license found is permissive or
    public domain (The Stack's inclusion rule).
    """
    if isinstance(files, (str, Path)):
        files = _read_tree(Path(files), max_files)
    results = {path: classify(text) for path, text in files.items()}
    license_files = sorted(p for p in results if _LICENSE_FILE.search(p))
    top = [p for p in license_files if "/" not in p.strip("/")]  # the repository's own license files first
    license_files = top or license_files
    from_files = [results[p]["spdx"] for p in license_files if results[p]["spdx"]]
    counts = Counter(r["spdx"] for r in results.values() if r["spdx"])
    ids = list(dict.fromkeys(from_files)) or ([counts.most_common(1)[0][0]] if counts else [])
    spdx = " AND ".join(ids) if ids else None
    cats = {category_of(s) for s in counts} | ({category_of(spdx)} if spdx else set())
    return {
        "spdx": spdx,
        "category": category_of(spdx),
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
