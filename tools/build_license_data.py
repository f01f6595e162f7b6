"""Build the licence data shipped in ``hf_addons/data/privacy/licenses/data/`` (run once per ScanCode release).

Not part of the package: the classifier only reads the files these functions write.

    python tools/build_license_data.py choosealicense ../shared/data/licenses
    python tools/build_license_data.py scancode-texts <scancode-toolkit>/src/licensedcode/data/licenses
    python tools/build_license_data.py scancode-rules <scancode-toolkit>/src/licensedcode/data

``choosealicense`` -> ``licenses.json`` (47 texts with categories), ``scancode-texts`` ->
``scancode-spdx.json.xz`` (needs ``licenses.json`` and the rule index for categories), ``scancode-rules`` ->
``scancode-rules.npz.xz`` (the rule index of :mod:`hf_addons.data.privacy.licenses.rules`).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import lzma
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hf_addons.data.privacy.licenses.matcher import DATA_FILE, SPDX_DATA_FILE, normalize
from hf_addons.data.privacy.licenses.rules import (
    BARE,
    CLUE,
    CONTINUOUS,
    FALSE_POSITIVE,
    FROM_LICENSE,
    GPL_ID,
    HAS_UNKNOWN,
    INTRO,
    NOTICE,
    REFERENCE,
    REFERENCES_FILE,
    REQUIRED_PHRASE,
    RULES_FILE,
    TAG,
    TEXT,
)

_SCANCODE_CATEGORIES = {"Permissive": "permissive", "Copyleft Limited": "weak_copyleft",
                        "Copyleft": "strong_copyleft", "Public Domain": "public_domain"}  # fmt: skip

# choosealicense still uses the deprecated bare GNU ids; SPDX (and ScanCode) name them "-only"
_MODERN_IDS = {"AGPL-3.0": "AGPL-3.0-only", "GPL-2.0": "GPL-2.0-only", "GPL-3.0": "GPL-3.0-only",
               "LGPL-2.1": "LGPL-2.1-only", "LGPL-3.0": "LGPL-3.0-only", "GFDL-1.3": "GFDL-1.3-only"}  # fmt: skip
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


def build_reference(src_dir: str | Path, out: str | Path = DATA_FILE) -> Path:
    """Compile choosealicense-style texts (YAML front matter + body) into the shipped ``licenses.json``."""
    refs = []
    for path in sorted(Path(src_dir).glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        if not raw.startswith("---"):
            continue
        header, body = _split_front_matter(raw)
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
    Also stored: ``popularity``, that rule count per SPDX id, (a popularity measure kept with the data).
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
        header, body = _split_front_matter(raw)
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


_WORD_OR_BRACE = re.compile(r"(?:[^_\W]+\+?[^_\W]*|\{\{|\}\})", re.UNICODE)
_FLAG_KEYS = {"is_license_text": TEXT, "is_license_notice": NOTICE, "is_license_reference": REFERENCE,
              "is_license_tag": TAG, "is_license_intro": INTRO, "is_license_clue": CLUE,
              "is_false_positive": FALSE_POSITIVE, "is_continuous": CONTINUOUS}  # fmt: skip


_FRONT_MATTER = re.compile(r"---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)(.*)", re.S)  # ends at a line of just ---


def _split_front_matter(raw: str) -> tuple[str, str]:
    """(YAML header, text) of a ScanCode data file; a header's own ``-----`` lines do not end it."""
    m = _FRONT_MATTER.match(raw)
    return (m.group(1), m.group(2)) if m else ("", raw)


def _front_matter(path: Path) -> tuple[dict[str, str], str]:
    header, body = _split_front_matter(path.read_text(encoding="utf-8"))
    return dict(re.findall(r"(?m)^([a-z_]+):[ \t]*(.*?)\s*$", header)), body


def _rule_tokens(text: str, stopwords: frozenset[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """ScanCode's index tokenizer plus the ``{{required phrase}}`` spans as (start, end) token positions."""
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    start = None
    for tok in _WORD_OR_BRACE.findall(text.lower()):
        if tok == "{{":
            start = len(tokens)
        elif tok == "}}":
            if start is not None and len(tokens) > start:
                spans.append((start, len(tokens)))
            start = None
        elif tok not in stopwords:
            tokens.append(tok)
    return tokens, spans


def _relevance(length: int) -> int:
    """ScanCode's ``compute_relevance``: 100 from 18 tokens, proportionally less below."""
    return 100 if length >= 18 else int(100 * length / 18)


def build_rule_index(licensedcode_data: str | Path, out: str | Path = RULES_FILE) -> Path:
    """Compile ScanCode's rules and license texts (``licensedcode/data``, CC-BY-4.0) into ``out``.

    Kept per rule: token ids, SPDX expression (ScanCode keys mapped by each license's
    ``spdx_license_key``, else ``LicenseRef-scancode-<key>`` as ScanCode reports them), flags, relevance,
    minimum coverage and required-phrase spans. As ScanCode's index: deprecated rules and licenses and
    non-English rules are left out, and the dictionary is its SPDX-key words, the rules' words and the
    legalese words. The stop words come from ScanCode's ``stopwords.py`` next to ``data``.
    """
    data = Path(licensedcode_data)
    stop_src = (data.parent / "stopwords.py").read_text(encoding="utf-8")
    # the STOPWORDS set literal (several words may share a line)
    stopwords = frozenset(
        ast.literal_eval(re.search(r"STOPWORDS = frozenset\((\{.*?\})\)", stop_src, re.S).group(1))
    )
    if not stopwords:
        raise ValueError(f"no stop words found in {data.parent / 'stopwords.py'}")
    # ScanCode's "legalese" words (``legalese.py``): the high-value tokens its approximate stage anchors on
    legal_src = (data.parent / "legalese.py").read_text(encoding="utf-8")
    # word -> group: ScanCode gives the words of a group one token id ("licence", "license")
    legalese = {
        w: int(g)
        for w, g in re.findall(
            r"^'([^']+)':\s*(\d+),", legal_src.split("common_non_license_words")[0], re.MULTILINE
        )
    }
    if len(legalese) < 1000:
        raise ValueError(f"too few legalese words found in {data.parent / 'legalese.py'}")
    spdx_of: dict[str, str] = {}
    aliases: dict[str, str] = {}  # lowercased SPDX id or alias (``other_spdx_license_keys``) -> SPDX id
    categories: dict[str, str] = {}  # SPDX id -> ScanCode's category ("Permissive", "Copyleft Limited" ...)
    entries: list[tuple[str, str, dict[str, str], str]] = []  # (identifier, key expression, meta, text)
    spdx_keys: list[str] = []  # the SPDX keys of the licenses ScanCode loads (get_all_spdx_keys)
    for path in sorted((data / "licenses").glob("*.LICENSE")):
        meta, body = _front_matter(path)
        key = meta.get("key", path.stem)
        spdx_of[key.lower()] = meta.get("spdx_license_key") or f"LicenseRef-scancode-{key}"
        categories[spdx_of[key.lower()]] = meta.get("category", "")
        raw = _split_front_matter(path.read_text(encoding="utf-8"))[0] + "\n"
        other = re.search(r"(?m)^other_spdx_license_keys:\s*\n((?:\s+-\s+.*\n)+)", raw)
        if meta.get("is_deprecated") != "yes":
            spdx_keys += [meta["spdx_license_key"]] if meta.get("spdx_license_key") else []
            spdx_keys += (
                [k.strip().strip("'\"") for k in re.findall(r"-\s+(.+)", other.group(1))] if other else []
            )
        for alias in [spdx_of[key.lower()], f"LicenseRef-scancode-{key}"] + (
            re.findall(r"-\s+(.+)", other.group(1)) if other else []
        ):
            aliases.setdefault(alias.strip().strip("'\"").lower(), spdx_of[key.lower()])
        if meta.get("is_deprecated") != "yes" and body.strip():
            entries.append((path.name, key, meta | {"is_license_text": "yes", "_from_license": "yes"}, body))
    for path in sorted((data / "rules").glob("*.RULE")):
        meta, body = _front_matter(path)
        if (
            meta.get("is_deprecated") == "yes"
            or meta.get("language", "en") != "en"  # ScanCode indexes English rules only (cache.build_index)
            or "license_expression" not in meta
            and "is_false_positive" not in meta
        ):
            continue
        entries.append((path.name, meta.get("license_expression", ""), meta, body))

    def to_spdx(expr: str) -> str:
        return re.sub(
            r"[A-Za-z0-9][A-Za-z0-9.+_-]*",
            lambda m: m.group(0).upper() if m.group(0).lower() in ("and", "or", "with")
            else spdx_of.get(m.group(0).lower(), f"LicenseRef-scancode-{m.group(0)}"),
            expr,
        )  # fmt: skip

    # ScanCode's dictionary: the words of its SPDX keys (always known, never legalese), then the rules' and
    # license texts' words, then the legalese words no rule uses; any other word is unknown to its matching
    vocab: dict[str, int] = {}
    spdx_words = ["spdx", "license", "licence", "identifier", "licenseref"]  # get_essential_spdx_tokens
    for key in spdx_keys:
        spdx_words += _rule_tokens(key, stopwords)[0]
    for t in sorted(set(spdx_words)):
        vocab.setdefault(t, len(vocab))
    ids, offsets, req, req_off, flags, relevance, min_cov, expr_ids = [], [0], [], [0], [], [], [], []
    names: list[str] = []  # ScanCode's rule identifiers, in index order
    exprs: dict[str, int] = {}
    for name, key_expr, meta, body in entries:
        toks, spans = _rule_tokens(body, stopwords)
        if not toks:
            continue
        f = sum(bit for k, bit in _FLAG_KEYS.items() if meta.get(k) == "yes")
        if meta.get("_from_license"):
            f |= FROM_LICENSE
            spans = []
        if "unknown" in key_expr:
            f |= HAS_UNKNOWN
        if any(b in name for b in ("gpl_bare", "freeware_bare", "public-domain_bare")):
            f |= BARE
        if "gpl" in name:
            f |= GPL_ID
        if meta.get("is_required_phrase") == "yes":
            f |= REQUIRED_PHRASE
        if "referenced_filenames" in meta:  # "see COPYING": ScanCode's detection keeps such a group
            f |= REFERENCES_FILE
        if len(spans) == 1 and spans[0] == (0, len(toks)):
            f |= CONTINUOUS  # ScanCode's Rule._set_continuous
        rel = meta.get("relevance")
        rel = 100 if f & FALSE_POSITIVE else int(rel) if rel else 90 if meta.get("is_required_phrase") == "yes" else _relevance(len(toks))  # fmt: skip
        ids += [vocab.setdefault(t, len(vocab)) for t in toks]
        offsets.append(len(ids))
        req += [x for s in spans for x in s]
        req_off.append(len(req) // 2)
        flags.append(f)
        relevance.append(rel)
        text = body.strip()  # a rule that is one bare URL line must be matched whole (ScanCode's Rule.setup)
        bare_url = text.startswith(("http://", "https://", "ftp://")) and "\n" not in text[:1000]
        min_cov.append(100 if bare_url else int(float(meta.get("minimum_coverage") or 0)))
        expr_ids.append(exprs.setdefault(to_spdx(key_expr) if key_expr else "", len(exprs)))
        names.append(name)
    for w in sorted(legalese):  # a legalese word no rule uses is still known (its group's id)
        if w not in stopwords:
            vocab.setdefault(w, len(vocab))
    buf = io.BytesIO()
    np.savez(
        buf,
        vocab=np.array("\n".join(vocab)),
        stopwords=np.array("\n".join(sorted(stopwords))),
        legalese_group=np.array([legalese.get(w, -1) for w in vocab], dtype=np.int32),
        exprs=np.array(json.dumps(list(exprs))),
        aliases=np.array(json.dumps(aliases)),
        categories=np.array(json.dumps(categories)),
        tokens=np.array(ids, dtype=np.uint32 if len(vocab) >= 1 << 16 else np.uint16),
        offsets=np.array(offsets, dtype=np.int64),
        req=np.array(req, dtype=np.int32).reshape(-1, 2),
        req_offsets=np.array(req_off, dtype=np.int64),
        flags=np.array(flags, dtype=np.uint16),
        relevance=np.array(relevance, dtype=np.uint8),
        min_coverage=np.array(min_cov, dtype=np.uint8),
        expr=np.array(expr_ids, dtype=np.int32),
        # each rule's place among the identifiers sorted as strings: ScanCode's merge_matches orders
        # matches by identifier, which breaks the ties of its later stable sorts
        identifier_rank=np.argsort(np.argsort(np.array(names), kind="stable"), kind="stable").astype(
            np.int32
        ),
    )
    out = Path(out)
    out.write_bytes(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("choosealicense", "scancode-texts", "scancode-rules"))
    parser.add_argument("source", help="the source folder (see the module docstring)")
    parser.add_argument("--out", help="output file (default: the shipped data file)")
    args = parser.parse_args(argv)
    build = {"choosealicense": build_reference, "scancode-texts": build_scancode_reference,
             "scancode-rules": build_rule_index}[args.what]  # fmt: skip
    print(build(args.source, args.out) if args.out else build(args.source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
