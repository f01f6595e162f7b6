"""The licence matcher: SPDX id + category of code files and license texts, and a repository roll-up.

The classifier follows ScanCode's detection pipeline (the accuracy reference, as used for The Stack) with
its own vectorised matchers:

1. ``SPDX-License-Identifier`` tags (ScanCode's spdx-lid stage): ids and their aliases resolved as ScanCode
   does, an unknown id as ``LicenseRef-scancode-unknown-spdx``; matching goes on for the rest of the file.
2. ScanCode's ~37,500 rules and license texts matched exactly (its "aho" stage, :mod:`.rules`): notices,
   references, tags, intros, clues and false-positive rules, refined as ScanCode does (required phrases,
   contained and overlapping matches, false positives).
3. ScanCode's approximate stage over all rules (:mod:`.approx`): where exact matches leave
   legalese words uncovered, candidate rules ranked by set/multiset resemblance are aligned with the
   query (ScanCode's ``match_blocks``) and kept above each rule's minimum coverage: reworded notices,
   partial texts, long rule variants. Exact and approximate matches are refined together.

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
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.privacy.licenses import approx, rules

DATA_FILE = Path(__file__).resolve().parent / "data" / "licenses.json"
SPDX_DATA_FILE = Path(__file__).resolve().parent / "data" / "scancode-spdx.json.xz"
_SCANCODE_CATEGORIES = {"Permissive": "permissive", "Copyleft Limited": "weak_copyleft",
                        "Copyleft": "strong_copyleft", "Public Domain": "public_domain"}  # fmt: skip
CATEGORIES = ("permissive", "weak_copyleft", "strong_copyleft", "public_domain", "unknown")
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


def category_of(spdx: str | None) -> str:
    """Category of an SPDX id or expression (``OR``: the most permissive part, ``AND``: the strictest;
    parentheses group as usual).

    Args:
        spdx: an SPDX id or expression (None: ``"unknown"``).

    Examples:

    ```python
    >>> category_of("MIT"), category_of("GPL-3.0-only"), category_of("MIT OR GPL-3.0-only")
    ('permissive', 'strong_copyleft', 'permissive')
    ```
    """
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


@lru_cache(maxsize=1)
def _categories() -> dict[str, str]:
    """SPDX id -> category of the bundled reference texts; the first text of an id (choosealicense's) sets it."""
    if not DATA_FILE.exists():
        raise FileNotFoundError(f"license reference data missing: {DATA_FILE} (package data not installed?)")
    refs = json.loads(DATA_FILE.read_text())["licenses"]
    if SPDX_DATA_FILE.exists():
        refs = refs + json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))["licenses"]
    out: dict[str, str] = {}
    for r in refs:
        out.setdefault(r["spdx"], r["category"])
    return out


def check_options(min_coverage: float | None, approximate: bool) -> None:
    """Reject the removed 3-gram matcher (``approximate=False``); warn that ``min_coverage`` does nothing."""
    if approximate is not True:
        raise ValueError(
            "approximate=False (the 3-gram license-text matcher) was removed: ScanCode's approximate stage "
            "over all rules is the only text matcher (dev agreement 0.989 vs 0.971)"
        )
    if min_coverage is not None:
        warnings.warn(
            "min_coverage has no effect (it was read by the removed 3-gram matcher; each ScanCode rule has "
            "its own minimum coverage) and will be removed",
            DeprecationWarning,
            stacklevel=3,
        )


def classify(
    text: str,
    min_coverage: float | None = None,
    max_chars: int = 200_000,
    approximate: bool = True,
    exhaustive: bool = True,
) -> dict[str, Any]:
    """Classify one file or license text: ``{"spdx", "category", "method", "score"}``.

    Args:
        text: the file's text (``bytes`` are read as UTF-8).
        min_coverage: deprecated, has no effect (each ScanCode rule has its own minimum coverage).
        max_chars: only the first ``max_chars`` are read (licenses sit at the top of files).
        approximate: must be True (the 3-gram matcher ``approximate=False`` selected was removed).
        exhaustive: do all of ScanCode's approximate alignments (every run with an uncovered legalese
            word, 70 candidates each). False aligns the first 5 candidates of runs with 3 such words:
            about 1.7x faster, further from ScanCode on long multi-license files (Debian ``copyright``).

    Returns ``method``: ``spdx_tag`` (a tag was found; other findings are ANDed to it), ``text`` (a license
    text found), ``notice`` (ScanCode rules only: notices, references, tags), ``name`` (the whole file is a
    license name no rule names), ``none``, or ``binary`` for binary-looking input; ``score``: the lowest
    coverage among the rules matched (1 for exact matches).

    Examples:

    ```python
    >>> classify("SPDX-License-Identifier: MIT")["spdx"]
    'MIT'
    ```
    """
    check_options(min_coverage, approximate)
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"classify() needs str or bytes, got {type(text).__name__}")
    head = text[:max_chars]
    if "\x00" in head[:8192]:
        return {"spdx": None, "category": "unknown", "method": "binary", "score": 0.0}
    return _classify_text(head, exhaustive)


def _join(exprs: list[str]) -> str | None:
    """``AND`` of unique expressions, in order; an ``OR`` one in parentheses."""
    uniq = list(dict.fromkeys(e for e in exprs if e))
    if len(uniq) == 1:
        return uniq[0]
    return " AND ".join(f"({e})" if " OR " in e else e for e in uniq) or None


def _classify_text(head: str, exhaustive: bool = True) -> dict[str, Any]:
    """ScanCode's pipeline with our matchers: SPDX tags, exact rule matches and approximate ones (refined
    together as ScanCode does), grouped into detections by lines and combined with ``AND`` in file order."""
    ix = rules.rule_index()
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
    # a tag line is matched: ScanCode subtracts it from what the later stages read
    on_tag = np.zeros(n + 1, dtype=np.int64)
    for a, b, _, _ in tags:
        on_tag[a] += 1
        on_tag[b] -= 1
    blocked = (np.cumsum(on_tag)[:n] > 0)[known]
    exact = rules.refine_exact(ix, raw, unknown_before)
    seq = approx.approximate(
        ix, approx.approx_index(), ids[known], line[known], unknown_before, exact, blocked,
        **({} if exhaustive else approx.FAST),
    )  # fmt: skip
    m = rules.refine_all(ix, exact, seq)
    ms, me = kpos[m.start], kpos[m.end - 1] + 1  # token spans of the rule matches
    keep = np.ones(len(m.rule), dtype=bool)
    for a, b, _, _ in tags:  # the words of a tag line are the tag's
        keep &= (me <= a) | (ms >= b)
    r = m.rule[keep]
    n_tag = len(tags)
    s = np.concatenate([ms[keep], [t[0] for t in tags]]).astype(np.int64)
    e = np.concatenate([me[keep], [t[1] for t in tags]]).astype(np.int64)
    line_end = np.append(line, line[-1] if n else 0)
    detections = rules.detect(
        tokens, s, e,
        np.concatenate([line[ms[keep]], [t[2] for t in tags]]).astype(np.int64),
        np.concatenate([line_end[me[keep] - 1], [t[2] for t in tags]]).astype(np.int64),
        np.concatenate([ix.flags[r], np.zeros(n_tag, dtype=np.int64)]),
        np.concatenate([ix.relevance[r], np.full(n_tag, 100)]),
        np.concatenate([ix.length[r], np.full(n_tag, 100)]),
        [ix.expression(x) for x in r] + [t[3] for t in tags],
        np.concatenate([m.coverage[keep], np.ones(n_tag)]),
    )  # fmt: skip
    # as ScanCode: one detection's expressions ANDed, the file's unique detections ANDed; an exception found
    # apart from its license stays an AND term (WITH comes from a rule or a tag)
    spdx = _join([_join(exprs) for _, exprs in detections])
    if spdx:
        from_text = bool((ix.flags[r] & rules.TEXT).any())
        method = "spdx_tag" if tags else "text" if from_text else "notice"
        # the least covered rule among the matches kept (exact ones: 1)
        score = round(float(m.coverage[keep].min(initial=1.0)), 4) if not tags else 1.0
        return {"spdx": spdx, "category": category_of(spdx), "method": method, "score": score}
    if len(head) <= 200 and len(norm := normalize(head)) <= 60:
        for pattern, name_id in _NAMES:
            if re.fullmatch(pattern, norm):
                return {"spdx": name_id, "category": category_of(name_id), "method": "name", "score": 1.0}
    # the best approximate match found, though none was kept
    score = float(seq.coverage.max()) if len(seq.rule) else 0.0
    return {"spdx": None, "category": "unknown", "method": "none", "score": round(score, 4)}


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
    parts are joined by ``relation``, duplicate ids removed and a part another one absorbs dropped
    (``A AND (A OR B)`` is ``A``); rendered with the parentheses SPDX needs.

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
    # absorption: ``A AND (A OR B)`` is ``A`` (and ``A OR (A AND B)`` is ``A``), or ids would repeat
    other = lic.OR if relation == "AND" else lic.AND
    args = [
        arg for key, arg in parts.items()
        if not (isinstance(arg, other) and any(str(a) in parts and str(a) != key for a in arg.args))
    ]  # fmt: skip
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


def classify_repository(
    files: Mapping[str, str] | str | Path, max_files: int = 5000, exhaustive: bool = True
) -> dict[str, Any]:
    """Roll file results up to a repository, as The Stack did: license files decide, headers back them up.

    The license files' expressions combine into one valid SPDX expression (``license_expression``: SPDX
    precedence, parentheses, unique ids). They are alternatives (``OR``) when the project ships one file per
    license (``LICENSE-MIT`` + ``LICENSE-APACHE``), when its manifest declares an ``OR`` expression
    (Cargo.toml, package.json, pyproject.toml, setup.cfg) or when its README says the license is a choice
    ("dual-licensed", "at your option"); otherwise all apply (``AND``).

    Args:
        files: ``{path: text}`` or a directory.
        max_files: files read at most from a directory.
        exhaustive: passed to :func:`classify` for every file.

    Returns ``spdx``, ``category`` (of the expression: ``OR`` takes the most permissive part), ``relation``
    (``"AND"``/``"OR"``/``None``), ``license_files``, per-file ``files`` results, ``counts`` of SPDX
    expressions over all files, and ``permissive``: True when the expression and every other file's license
    are permissive or public domain (The Stack's inclusion rule).

    Examples:

    ```python
    >>> classify_repository({"LICENSE": "MIT License ...", "a.py": "# SPDX-License-Identifier: MIT"})["spdx"]  # doctest: +SKIP
    'MIT'
    ```
    """
    if isinstance(files, (str, Path)):
        files = _read_tree(Path(files), max_files)
    results = {path: classify(text, exhaustive=exhaustive) for path, text in files.items()}
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


#: the name exported from ``hf_addons.data`` (``classify`` alone is ambiguous there)
classify_license = classify
