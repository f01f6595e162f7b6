"""License classification of code files and license texts: SPDX id + category, and a repository roll-up.

Three signals, strongest first: an ``SPDX-License-Identifier`` tag; the full text of a known license anywhere
in the file (word 3-gram containment against 47 reference texts shipped in ``license_data/``, robust to
reflowing, changed copyright lines and comment markers, since only lowercase word tokens are compared); and
the standard short notices of the common licenses ("Licensed under the Apache License, Version 2.0" ...).
Categories follow the reference texts' conditions (choosealicense.com): permissive, weak_copyleft (file or
library scope), strong_copyleft, public_domain, unknown.
"""

from __future__ import annotations

import json
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
# standard notices, matched on the normalised (lowercase words, single spaces) text
_NOTICES: tuple[tuple[str, str], ...] = (
    (r"apache license,? version 2 0|apache license v2 0|apache 2 0 license", "Apache-2.0"),
    (r"gnu affero general public license.{0,120}?version 3", "AGPL-3.0"),
    (r"gnu (?:lesser|library) general public license.{0,120}?version 2 1", "LGPL-2.1"),
    (r"gnu lesser general public license.{0,120}?version 3", "LGPL-3.0"),
    (r"gnu library general public license.{0,120}?version 2", "LGPL-2.0"),
    (r"gnu general public license.{0,120}?version 3", "GPL-3.0"),
    (r"gnu general public license.{0,120}?version 2", "GPL-2.0"),
    (r"mozilla public license,? v(?:ersion)? 2 0", "MPL-2.0"),
    (r"eclipse public license v(?:ersion)? 2 0", "EPL-2.0"),
    (r"eclipse public license v(?:ersion)? 1 0", "EPL-1.0"),
    (r"boost software license", "BSL-1.0"),
    (r"(?:licensed|released|distributed) under (?:the )?(?:terms of the )?mit license|^mit license", "MIT"),
    (r"(?:new|revised|3 clause) bsd license|bsd 3 clause", "BSD-3-Clause"),
    (r"(?:simplified|2 clause|freebsd) bsd license|bsd 2 clause", "BSD-2-Clause"),
    (r"isc license", "ISC"),
    (r"python software foundation license", "PSF-2.0"),
    (r"(?:released|dedicated|placed) (?:in)?to the public domain|this is free and unencumbered software",
     "LicenseRef-public-domain"),
)  # fmt: skip
# a file that only names its license ("Apache 2.0", "MIT License", "GPLv3")
_NAMES: tuple[tuple[str, str], ...] = (
    (r"(?:the )?apache(?: software)?(?: license)?(?: version| v)? ?2(?: 0)?(?: license)?", "Apache-2.0"),
    (r"(?:the )?mit(?: license)?", "MIT"),
    (r"(?:the )?(?:new |revised )?bsd(?: 3 clause)?(?: license)?", "BSD-3-Clause"),
    (r"(?:the )?bsd 2 clause(?: license)?", "BSD-2-Clause"),
    (r"(?:the )?isc(?: license)?", "ISC"),
    (r"(?:gnu )?(?:gpl ?v?3|gpl version 3)(?: only)?", "GPL-3.0"),
    (r"(?:gnu )?(?:gpl ?v?2|gpl version 2)(?: only)?", "GPL-2.0"),
    (r"(?:gnu )?lgpl ?v?2 1", "LGPL-2.1"),
    (r"(?:gnu )?lgpl ?v?3", "LGPL-3.0"),
    (r"mpl ?2 0|mozilla public license 2 0", "MPL-2.0"),
    (r"public domain|unlicense|the unlicense", "LicenseRef-public-domain"),
)
_COPYRIGHT_LINE = re.compile(r"(?im)^\W*(?:copyright\b|\(c\)|©).*$")
_SPELLING = (("licence", "license"), ("authorisation", "authorization"), ("organisation", "organization"))


def normalize(text: str) -> str:
    """Lowercase words joined by single spaces; comment markers, punctuation and copyright lines dropped."""
    text = _COPYRIGHT_LINE.sub(" ", text).lower()
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
        spdx = meta["spdx-id"]
        conditions = meta.get("conditions") or []
        if spdx in _CATEGORY_OVERRIDES:
            category = _CATEGORY_OVERRIDES[spdx]
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


def category_of(spdx: str | None) -> str:
    """Category of an SPDX id or expression (``OR``: the most permissive part, ``AND``: the strictest)."""
    if not spdx:
        return "unknown"
    rank = {c: i for i, c in enumerate(("public_domain", "permissive", "weak_copyleft", "strong_copyleft"))}
    parts = [p for p in re.split(r"\s+(?:OR|AND)\s+|[()]", spdx) if p.strip()]
    cats = []
    for part in parts:
        base = part.split(" WITH ")[0].strip()
        cat = _index().category.get(base) or _index().category.get(
            base.removesuffix("-only").removesuffix("-or-later")
        )
        if cat is None:
            cat = next((c for prefix, c in _PREFIX_CATEGORIES if base.startswith(prefix)), "unknown")
        if " WITH " in part and cat == "strong_copyleft" and re.search(r"Classpath|GCC|linking", part):
            cat = "weak_copyleft"
        cats.append(cat)
    known = [c for c in cats if c in rank]
    if not known:
        return "unknown"
    pick = min if " OR " in spdx else max
    return pick(known, key=rank.__getitem__)


class _Index:
    """Reference 3-gram sets in one sorted key array with CSR postings, for vectorised containment counts."""

    def __init__(self, refs: list[dict[str, Any]]):
        self.spdx = [r["spdx"] for r in refs]
        self.category = {r["spdx"]: r["category"] for r in refs}
        self.vocab: dict[str, int] = {}
        key_sets = []
        for r in refs:
            tokens = normalize(r["text"]).split()
            ids = np.array([self.vocab.setdefault(t, len(self.vocab)) for t in tokens], dtype=np.int64)
            key_sets.append(np.unique(self._trigrams(ids)))
        self.sizes = np.array([len(k) for k in key_sets], dtype=np.float64)
        # contained[i, j]: share of reference j's 3-grams found in reference i (BSD-2 inside BSD-3 ...)
        self.contained = np.array(
            [
                [len(np.intersect1d(a, b, assume_unique=True)) / max(len(b), 1) for b in key_sets]
                for a in key_sets
            ]
        )
        all_keys = np.concatenate(key_sets)
        owners = np.concatenate([np.full(len(k), i) for i, k in enumerate(key_sets)])
        order = np.argsort(all_keys, kind="stable")
        all_keys, owners = all_keys[order], owners[order]
        self.keys, starts = np.unique(all_keys, return_index=True)
        self.starts = np.append(starts, len(all_keys))
        self.owners = owners

    def _trigrams(self, ids: np.ndarray) -> np.ndarray:
        if len(ids) < 3:
            return np.zeros(0, dtype=np.int64)
        v = 1 << 20
        return (ids[:-2] * v + ids[1:-1]) * v + ids[2:]

    def overlap(self, normalized: str) -> np.ndarray:
        """Per reference, how many of its distinct 3-grams occur in the text."""
        tokens = normalized.split()
        if len(tokens) < 3:
            return np.zeros(len(self.spdx))
        uniq, inverse = np.unique(np.array(tokens), return_inverse=True)
        gid = np.array([self.vocab.get(t, -1) for t in uniq.tolist()], dtype=np.int64)[inverse]
        tri = self._trigrams(np.where(gid < 0, 1 << 19, gid))  # unknown words match nothing
        doc = np.unique(tri)
        pos = np.searchsorted(self.keys, doc)
        valid = pos < len(self.keys)
        pos = pos[valid]
        hit = pos[self.keys[pos] == doc[valid]]
        if not len(hit):
            return np.zeros(len(self.spdx))
        lengths = self.starts[hit + 1] - self.starts[hit]
        idx = np.repeat(self.starts[hit] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return np.bincount(self.owners[idx], minlength=len(self.spdx)).astype(np.float64)


@lru_cache(maxsize=1)
def _index() -> _Index:
    if not DATA_FILE.exists():
        raise FileNotFoundError(f"license reference data missing: {DATA_FILE} (package data not installed?)")
    return _Index(json.loads(DATA_FILE.read_text())["licenses"])


def classify(text: str, min_coverage: float = 0.5, max_chars: int = 200_000) -> dict[str, Any]:
    """Classify one file or license text: ``{"spdx", "category", "method", "score"}``.

    ``method`` is ``spdx_tag``, ``text`` (reference text found; ``score`` = share of its 3-grams present),
    ``name`` (the whole file is a license name such as "Apache 2.0"), ``notice`` (a standard short notice)
    or ``none``. Only the first ``max_chars`` are read (licenses sit at
    the top of files); binary-looking input gives ``method="binary"``.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"classify() needs str or bytes, got {type(text).__name__}")
    head = text[:max_chars]
    if "\x00" in head[:8192]:
        return {"spdx": None, "category": "unknown", "method": "binary", "score": 0.0}
    if m := _SPDX_TAG.search(head):
        expr = m.group(1).strip()
        return {"spdx": expr, "category": category_of(expr), "method": "spdx_tag", "score": 1.0}
    index = _index()
    norm = normalize(head)
    inter = index.overlap(norm)
    coverage = inter / index.sizes
    order = np.argsort(-(inter * coverage), kind="stable")
    chosen: list[int] = []
    for j in order[coverage[order] >= min_coverage].tolist():
        # a second license text in the file, not a shorter sibling of one already found (MIT-0 in MIT)
        if all(index.contained[i, j] < 0.5 and index.contained[j, i] < 0.5 for i in chosen):
            chosen.append(j)
    if chosen:
        spdx = " AND ".join(index.spdx[j] for j in chosen)
        return {"spdx": spdx, "category": category_of(spdx), "method": "text",
                "score": round(float(coverage[chosen[0]]), 4)}  # fmt: skip
    if len(norm) <= 60:
        for pattern, spdx in _NAMES:
            if re.fullmatch(pattern, norm):
                return {"spdx": spdx, "category": category_of(spdx), "method": "name", "score": 1.0}
    for pattern, spdx in _NOTICES:
        if re.search(pattern, norm):
            return {"spdx": spdx, "category": category_of(spdx), "method": "notice", "score": 1.0}
    return {
        "spdx": None,
        "category": "unknown",
        "method": "none",
        "score": round(float(coverage.max(initial=0)), 4),
    }


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
