"""Secret detection and redaction for code and config files (provider keys, VCS tokens, private keys ...).

One compiled alternation of high-precision rules (gitleaks-style, each with a fixed prefix or a keyword) runs
once over the whole batch joined by NUL bytes; only the few candidates it finds go through Python-level
validation: checksums where the format has one (GitHub/npm tokens carry a CRC32 of their random part), JWT
header decoding, Shannon entropy and detect-secrets' heuristic filters (templated values, sequential strings,
UUIDs ...) for values assigned to secret-looking names. Redaction replaces the secret span only, never the
key name or anything else around it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from hf_addons.data.base import Batch, FilterStep, decode_cell, register_step, require_columns
from hf_addons.data.privacy.secret_patterns import ASSIGN, PROVIDER_RULES, SecretRule, keyword_alts

_SEP = "\x00"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
# values that are obviously not a real secret (docs, templates, tests)
_PLACEHOLDER = re.compile(
    r"(?i)(?:example|changeme|change_me|placeholder|your[_-]|<|>|\{|\}|\$|%s|%\(|xxxx|\*\*\*|\.\.\.|redacted|"
    r"dummy|^test|fake|sample|secret_?key_?here|password$|^passw|^none$|^null$|^true$|^false$|environ|getenv)"
)
# inside a provider-format token: documentation fillers (``ghp_xxxx...``, ``AKIAIOSFODNN7EXAMPLE``)
_TOKEN_FILLER = re.compile(r"(?i:example|xxxx|your[_-])|\*\*\*|<|>|\.\.\.|0000000|1234567|abcdefg|ABCDEFG")
# exact values that providers print in their documentation
KNOWN_EXAMPLES = frozenset(
    {
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNT"
        "E2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    }
)
# weak values in ``scheme://user:pass@host`` that documentation and tests use
_URL_PLACEHOLDER = re.compile(r"[a-z]{1,10}|\d{1,8}|[a-z]{1,10}\d{1,3}|[A-Z_]+|(?i:p[a4]ss(?:w[o0]rd)?\d*)")
# names of values that are not secrets although they contain a secret word (``token_type``, ``password_file``)
_NOT_SECRET_NAME = re.compile(
    r"(?i)(?:_|-|\b)(?:file|path|env|var|name|names|type|types|id|url|uri|len|length|size|dir|count|field|"
    r"prefix|suffix|header|param|endpoint|policy|format|regex|pattern|hint|label|prompt|min|max)['\"]?\]?\s*$"
)
# contexts of high-entropy values that are identifiers or digests, not secrets
_DIGEST_CONTEXT = re.compile(
    r"(?i)(?:etag|e-tag|hash|digest|checksum|sha\d*|md5|integrity|fingerprint|uuid|guid|nonce|revision|commit|"
    r"alphabet|charset|chars|symbols|b64|base64|\bid)\w*['\"]?\]?\s*(?:=|:|\(|,)\s*[bru]?['\"]?$"
)

_ASSIGN = ASSIGN
_keyword_alts = keyword_alts

_SECRET_WORDS = (
    "password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "api[_-]?key", "apikey",
    "access[_-]?key", "private[_-]?key", "client[_-]?secret", "auth[_-]?key", "credentials?",
    "signing[_-]?key", "encryption[_-]?key", "master[_-]?key", "session[_-]?key", "app[_-]?key",
)  # fmt: skip
# an unquoted value that ends its line (YAML, .env, INI, TOML-less-quotes, shell): no brackets, quotes, commas
_UNQUOTED = r"(?P<s>[^\s'\"`#;,()\[\]{}<>\\\x00]{6,200})(?=[ \t]*(?:#[^\n\x00]{0,200})?(?:\r?\n|\x00|$))"
_KEY_TAIL = r"[\w.-]{0,20}?['\"]?\]?"

_CORE_HEAD: tuple[SecretRule, ...] = (
    SecretRule(
        "private_key",
        (
            r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[^\x00]{0,20000}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)?",
        ),
    ),
    SecretRule(
        "aws_secret_access_key",
        _keyword_alts(
            ["aws"],
            r"[\w.\-]{0,30}?(?i:secret|private)[\w.\-]{0,20}?['\"]?" + _ASSIGN + r"['\"]?"
            r"(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        ),
        validate="entropy",
    ),
)
_CORE_TAIL: tuple[SecretRule, ...] = (
    SecretRule(
        "jwt",
        (r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])",),
        validate="jwt",
        boundary=True,
    ),
    SecretRule(
        "url_password",
        (r"://(?P<u>[^\s:@/'\"\x00]{1,64}):(?P<s>[^\s:@/'\"\x00]{3,64})@[A-Za-z0-9.-]+",),
        validate="url_password",
    ),
    SecretRule(
        "bearer_token",
        (r"Bearer\s+(?P<s>[A-Za-z0-9._~+/-]{20,500}=*)(?![A-Za-z0-9._~+/=-])",),
        validate="entropy",
        boundary=True,
    ),
    SecretRule(
        "assigned_secret",
        _keyword_alts(
            _SECRET_WORDS,
            _KEY_TAIL + _ASSIGN + r"[bruf]?(?P<q>['\"])(?P<s>[^'\"\s\x00]{6,200})(?P=q)",
        )
        + _keyword_alts(_SECRET_WORDS, _KEY_TAIL + r"[ \t]*(?:=|:)[ \t]*" + _UNQUOTED),
        validate="assigned",
    ),
    SecretRule(
        "high_entropy_string",
        # spelled out (``="``, ``= b'`` ...) so that every alternative is literal up to the quote: ``=``, ``:``,
        # ``(`` and ``,`` are among the commonest characters of code
        tuple(
            head + space + prefix + quote + r"(?P<s>[A-Za-z0-9+/_-]{20,200}={0,2})" + quote
            for head in ("=", ":", "(", ",")
            for space in ("", " ")
            for prefix in ("", "b", "r", "u")
            for quote in ("'", '"')
        ),
        validate="entropy",
    ),
)
RULES: tuple[SecretRule, ...] = _CORE_HEAD + PROVIDER_RULES + _CORE_TAIL
RULE_NAMES = tuple(r.name for r in RULES)
# rules that only recognise "a secret-looking value": a value they find is retyped by the specific rules
_GENERIC = ("assigned_secret", "high_entropy_string", "bearer_token")
CONFIDENCE_LEVELS = ("low", "medium", "high")


def _literal_prefix(alt: str) -> tuple[str, str]:
    """Split an alternative into its leading literal characters and the regex that follows them.

    The first character is literal by convention (``(`` and ``.`` included); after it, plain characters and
    escaped punctuation count until the first regex construct or quantified character.
    """
    prefix, i = alt[0], 1
    while i < len(alt):
        c = alt[i]
        step = 2 if c == "\\" and i + 1 < len(alt) and alt[i + 1] in ".-$~/+*?()[]{}|^" else 1
        if step == 1 and not (c.isalnum() or c in "_-~:=/ @!#%&,;<>\"'"):
            break
        if i + step < len(alt) and alt[i + step] in "*+?{":
            break  # a quantified character is not a fixed prefix
        prefix += alt[i + step - 1]
        i += step
    return prefix, alt[i:]


def _combined(rules: Sequence[SecretRule]) -> re.Pattern[str]:
    """One alternation over every rule's alternatives, each ending in a marker ``r<rule>_<alt>``, as a trie.

    Every alternative starts with a literal character, so ``re`` builds a first-character set and jumps over
    every position that cannot start a rule; the literal prefixes of the alternatives are merged into a trie
    (``g(?:h(?:p_...|o_...)|l(?:pat-...))``), so that at a candidate position only the branches that share
    its characters are tried: one pass over the batch for ~170 alternatives at detect-secrets' cost / 50+.
    """
    trie: dict = {}
    for i, rule in enumerate(rules):
        for k, alt in enumerate(rule.alternatives):
            if not (alt[0].isalnum() or alt[0] in "-:=(,._~"):
                raise ValueError(
                    f"rule {rule.name}: alternative must start with a literal character: {alt!r}"
                )
            tag = f"{i}_{k}"
            prefix, rest = _literal_prefix(alt)
            for g in ("s", "q", "u"):
                rest = rest.replace(f"(?P<{g}>", f"(?P<{g}{tag}>").replace(f"(?P={g})", f"(?P={g}{tag})")
            node = trie
            for ch in prefix:
                node = node.setdefault(ch, {})
            # an empty marker group at the end names the alternative (``m.lastgroup``); at the start it would
            # hide the rest's first character from the branch's fast check
            node.setdefault("", []).append(f"(?:{rest})(?P<r{tag}>)")

    def render(node: dict) -> str:
        parts = [re.escape(ch) + render(child) for ch, child in node.items() if ch]
        parts += node.get("", [])
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    top = [re.escape(ch) + render(child) for ch, child in trie.items()]
    return re.compile("|".join(top))


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value`` (detect-secrets' measure; 4.5+ is random base64, 3.0+ random hex).

    Args:
        value: a string.

    Examples:

    ```python
    >>> shannon_entropy("abcd"), shannon_entropy("aabb")
    (2.0, 1.0)
    ```
    """
    n = len(value)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _crc32_ok(token: str) -> bool:
    """GitHub / npm tokens: ``prefix_`` + 30 random chars + base62(CRC32(random)) zero-padded to 6."""
    body = token.split("_", 1)[1]
    random_part, check = body[:-6], body[-6:]
    value = zlib.crc32(random_part.encode())
    digits = ""
    while value:
        value, r = divmod(value, 62)
        digits = _B62[r] + digits
    return digits.rjust(6, "0") == check


def _jwt_ok(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _is_alphabet(value: str) -> bool:
    """``ABCDEFGHJKLMNPQRSTUVWXYZ...`` (base58/base64 alphabets, charsets): no repeats, mostly ascending runs."""
    if len(set(value)) < 0.9 * len(value):
        return False
    steps = sum(ord(b) - ord(a) == 1 for a, b in zip(value, value[1:]))
    return steps >= 0.6 * (len(value) - 1)


def _looks_random(value: str, min_entropy: float) -> bool:
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string

    if is_sequential_string(value) or is_potential_uuid(value) or _is_alphabet(value):
        return False
    return shannon_entropy(value) >= min_entropy


def _token_placeholder(value: str) -> bool:
    """A provider-format value that is a documentation filler or a known documentation example."""
    body = value.split("_", 1)[-1] if "_" in value[:12] else value
    return value in KNOWN_EXAMPLES or bool(_TOKEN_FILLER.search(value)) or len(set(body)) <= 5


def _high_entropy_ok(value: str, before: str) -> bool:
    """Random base64/hex tokens, not identifiers, paths, words, digests, ETags or alphabets."""
    if _PLACEHOLDER.search(value) or re.fullmatch(r"[a-z_]+|[A-Z_]+|[a-z]+(?:[A-Z][a-z]+)+", value):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", value):  # digests/checksums in code are the common hex strings
        return False
    if _DIGEST_CONTEXT.search(before):  # ``etag = "..."``, ``sha256: "..."``, ``alphabet = "..."``
        return False
    # identifiers such as ``Qwen2_5OmniToken2WavDiTModel`` are mostly made of (Camel) word runs
    if sum(len(w) for w in re.findall(r"[A-Z]?[a-z]{2,}", value)) >= 0.5 * len(value):
        return False
    classes = sum(bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    return classes == 3 and "/" not in value.strip("/")[:-2] and _looks_random(value, 4.5)


def _word_share(value: str) -> float:
    return sum(len(w) for w in re.findall(r"[A-Z]?[a-z]{2,}|[A-Z]{2,}(?![a-z])", value)) / max(len(value), 1)


def _random_letters(value: str) -> bool:
    """Long mixed-case values that are not made of words: ``kXwQzTrNbVcMpLs...`` but not ``MyClassName``."""
    return (
        len(value) >= 20
        and bool(re.search(r"[a-z]", value) and re.search(r"[A-Z]", value))
        and sum(len(w) for w in re.findall(r"[A-Z]?[a-z]{2,}", value)) < 0.5 * len(value)
        and shannon_entropy(value) >= 4.0
    )


def _assigned_ok(value: str, line: str, key: str, quoted: bool) -> bool:
    """A value assigned to a secret-looking name: not a reference, template, identifier, path or word."""
    from detect_secrets.filters.heuristic import is_indirect_reference, is_templated_secret

    if is_templated_secret(value) or _PLACEHOLDER.search(value) or is_indirect_reference(line):
        return False
    if _NOT_SECRET_NAME.search(key) or _is_alphabet(value):
        return False
    if not quoted and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        # an unquoted identifier is a variable in code unless it reads as a random string
        return (
            len(value) >= 8
            and bool(re.search(r"[0-9]", value) and re.search(r"[A-Za-z]", value))
            and _word_share(value) < 0.5
            and shannon_entropy(value) >= 3.0
        )
    # identifiers, dotted names, file paths, URLs, format strings and words are config keys, not secrets
    if re.fullmatch(r"[A-Za-z_][A-Za-z_.-]*|[\w./-]*[/.][\w./-]*|[\W_]+|[a-z]+[0-9]?", value) and not (
        _random_letters(value)
    ):
        return False
    if not quoted and re.fullmatch(r"[\d.:eE+-]+|(?i:true|false|yes|no|on|off|null|none|nil)", value):
        return False  # numbers, versions, booleans
    if _random_letters(value):
        return True
    if value[0] in "[<|{(#%&*!@" or not (re.search(r"[A-Za-z]", value) and re.search(r"[0-9\W_]", value)):
        return False  # special tokens (``[IMG_END]``, ``|SPEAKER|``), YAML tags/anchors, markup, plain words
    return shannon_entropy(value) >= 2.5


def _url_password_ok(value: str, user: str) -> bool:
    """``scheme://user:pass@host`` with a real password: not a template, filler or ``user:pass`` example."""
    from detect_secrets.filters.heuristic import is_templated_secret

    return not (
        is_templated_secret(value)
        or _PLACEHOLDER.search(value)
        or set(value) <= {"*", "x", "X"}
        or value == user
        or _URL_PLACEHOLDER.fullmatch(value)
    )


class SecretScanner:
    """Compiled rule set: ``scan(texts)`` returns, per text, the secrets found with type, span, line, confidence.

    ``confidence`` is ``"high"`` for a provider format (with a valid checksum where the format has one),
    ``"medium"`` for a generic find (a value assigned to a secret-looking name, a password in a URL, a bearer
    token, a high-entropy string) and ``"low"`` for a provider format whose checksum is wrong (a documentation
    example, a truncated or edited token: still reported, never silently dropped).

    Args:
        rules: rule names to run (default: all of ``RULE_NAMES``).
        validate_checksums: compute the GitHub/npm CRC32 (``False``: such tokens are ``"high"`` unchecked).
        min_confidence: the lowest confidence reported (``"low"`` reports everything).

    Examples:

    ```python
    >>> found = SecretScanner().scan(["token = ghp_xxx"])[0]  # doctest: +SKIP
    ```
    """

    def __init__(
        self,
        rules: Sequence[str] | None = None,
        validate_checksums: bool = True,
        min_confidence: str = "low",
    ):
        unknown = sorted(set(rules or ()) - set(RULE_NAMES))
        if unknown:
            raise ValueError(f"unknown secret rule(s) {unknown}; known: {list(RULE_NAMES)}")
        if min_confidence not in CONFIDENCE_LEVELS:
            raise ValueError(f"min_confidence must be one of {CONFIDENCE_LEVELS}, got {min_confidence!r}")
        self.rules = tuple(r for r in RULES if rules is None or r.name in rules)
        if not self.rules:
            raise ValueError("no secret rule selected")
        self.validate_checksums = validate_checksums
        self.min_confidence = min_confidence
        self._min_level = CONFIDENCE_LEVELS.index(min_confidence)
        self._regex = _combined(self.rules)
        self._specific_rules = tuple(r for r in self.rules if r.name not in _GENERIC)
        self._specific = _combined(self._specific_rules) if self._specific_rules else None

    def _confidence(self, rule: SecretRule, m: re.Match[str], tag: str, value: str, text: str, start: int):
        """``"high"``/``"medium"``/``"low"``, or ``None`` when the candidate is not a secret."""
        check = rule.validate
        if check != "assigned" and _token_placeholder(value):
            return None
        if check == "crc32":
            return "high" if not self.validate_checksums or _crc32_ok(value) else "low"
        if check == "jwt":
            return "high" if _jwt_ok(value) else None
        # the line around the candidate, at most 200 characters each side (minified files have huge lines)
        line_start = max(text.rfind("\n", max(start - 200, 0), start) + 1, start - 200, 0)
        if check == "entropy":
            if rule.name == "high_entropy_string":
                ok = _high_entropy_ok(value, text[line_start:start])
            else:  # random hex carries 4 bits a character at most: detect-secrets' hex limit is 3.0
                ok = _looks_random(value, 3.0 if re.fullmatch(r"[0-9a-fA-F-]+", value) else 3.5)
            return ("medium" if rule.name in _GENERIC else "high") if ok else None
        if check == "assigned":
            line_end = text.find("\n", start, start + 400)
            line = text[line_start : line_end if line_end >= 0 else min(start + 400, len(text))]
            quoted = m.group(f"q{tag}") is not None if f"q{tag}" in m.re.groupindex else False
            key_end = start - line_start - (1 if quoted else 0)
            return "medium" if _assigned_ok(value, line, line[:key_end].rstrip(" \t=:"), quoted) else None
        if check == "url_password":
            return "medium" if _url_password_ok(value, m.group(f"u{tag}")) else None
        return "medium" if rule.name in _GENERIC else "high"

    def scan(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """One regex pass over the NUL-joined batch; offsets in the result are relative to each text."""
        texts = [t.replace(_SEP, " ") if _SEP in t else t for t in texts]
        joined = _SEP.join(texts)
        starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]]) if texts else np.zeros(0, dtype=np.int64)
        found: list[list[dict[str, Any]]] = [[] for _ in texts]
        matches = list(self._regex.finditer(joined))
        if not matches:
            return found
        rows = np.searchsorted(starts, np.fromiter((m.start() for m in matches), dtype=np.int64), "right") - 1
        for m, row in zip(matches, rows.tolist()):
            tag = m.lastgroup[1:]
            rule = self.rules[int(tag.split("_", 1)[0])]
            begin = m.start() - rule.lead
            prev = joined[begin - 1] if begin else " "
            if rule.boundary and (prev.isalnum() or prev == "_"):
                continue
            s, e = m.span(f"s{tag}") if f"s{tag}" in m.re.groupindex else (begin, m.end())
            base = int(starts[row])
            text = texts[row]
            value = joined[s:e]
            if rule.name in _GENERIC and self._specific is not None:
                sm = self._specific.search(value)
                sub = self._specific_rules[int(sm.lastgroup[1:].split("_", 1)[0])] if sm else None
                if sub is not None and sm.start() - sub.lead == 0 and sm.end() == len(value):
                    rule, m, tag = sub, sm, sm.lastgroup[1:]  # ``TOKEN = "ghp_..."``: the provider's type
            confidence = self._confidence(rule, m, tag, value, text, s - base)
            if confidence is None or CONFIDENCE_LEVELS.index(confidence) < self._min_level:
                continue
            found[row].append(
                {
                    "type": rule.name,
                    "start": s - base,
                    "end": e - base,
                    "line": text.count("\n", 0, s - base) + 1,
                    "confidence": confidence,
                }
            )
        return found


def redact(text: str, found: Sequence[dict[str, Any]], placeholder: str = "<{TYPE}>") -> str:
    """Replace each found span by ``placeholder`` (``{type}``/``{TYPE}`` filled); text outside spans is kept.

    Args:
        text: the scanned text.
        found: the secrets :meth:`SecretScanner.scan` found in it.
        placeholder: what a secret becomes (``{TYPE}``/``{type}``: the rule name).

    Examples:

    ```python
    >>> redact("key=abc", [{"type": "api_key", "start": 4, "end": 7}])
    'key=<API_KEY>'
    ```
    """
    out, pos = [], 0
    for item in sorted(found, key=lambda f: f["start"]):
        if item["start"] < pos:  # overlapping span already covered
            continue
        out.append(text[pos : item["start"]])
        out.append(placeholder.format(type=item["type"], TYPE=item["type"].upper()))
        pos = item["end"]
    out.append(text[pos:])
    return "".join(out)


@register_step("secrets", extra="privacy")
class SecretFilter(FilterStep):
    """Batched step: finds secrets in ``text_column``; ``action`` is ``"redact"``, ``"drop"`` or ``"flag"``.

    Adds ``secrets_found`` (per row: type, start, end, line), ``secrets_keep`` / ``secrets_reason``
    (``"secrets:github_token,jwt"`` when ``action="drop"``; binary/oversized rows get ``secrets:binary`` /
    ``secrets:too_large`` and are kept unscanned only with ``action="flag"``). ``"redact"`` rewrites the text
    column in place, replacing only the secret spans by ``placeholder``.

    Args:
        text_column: the column scanned (str or bytes; bytes are decoded as :func:`~hf_addons.data.base.decode_cell` says).
        action: ``"redact"`` (rewrite the spans), ``"drop"`` (reject rows with secrets) or ``"flag"`` (annotate only).
        placeholder: what a redacted secret becomes (``{TYPE}``/``{type}`` are the rule name, upper/lower case).
        rules: rule names to run (default: all of ``RULE_NAMES``).
        validate_checksums: report GitHub/npm-shaped tokens only when their CRC32 checksum is right.
        max_chars: longer cells are not scanned (``secrets:too_large``).

    Examples:

    ```python
    >>> out = SecretFilter()({"content": ['aws_secret = "AKIAIOSFODNN7EXAMPLE"']})  # doctest: +SKIP
    >>> out["content"]  # doctest: +SKIP
    ['aws_secret = "<AWS_ACCESS_KEY>"']
    ```
    """

    name = "secrets"

    def __init__(
        self,
        text_column: str = "content",
        action: str = "redact",
        placeholder: str = "<{TYPE}>",
        rules: Sequence[str] | None = None,
        validate_checksums: bool = True,
        max_chars: int = 5_000_000,
    ):
        if action not in ("redact", "drop", "flag"):
            raise ValueError(f"action must be 'redact', 'drop' or 'flag', got {action!r}")
        self.text_column = text_column
        self.action = action
        self.placeholder = placeholder
        self.rules = list(rules) if rules is not None else None
        self.validate_checksums = validate_checksums
        self.max_chars = max_chars
        self._scanner: SecretScanner | None = None

    @property
    def scanner(self) -> SecretScanner:
        if self._scanner is None:
            self._scanner = SecretScanner(self.rules, self.validate_checksums)
        return self._scanner

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_scanner": None}

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        cells = [decode_cell(v, self.max_chars) for v in batch[self.text_column]]
        ok_rows = [i for i, (t, _) in enumerate(cells) if t is not None]
        found: list[list[dict[str, Any]]] = [[] for _ in cells]
        for i, f in zip(ok_rows, self.scanner.scan([cells[i][0] for i in ok_rows])):
            found[i] = f
        reasons, texts = [], list(batch[self.text_column])
        for i, ((text, bad), f) in enumerate(zip(cells, found)):
            if bad:
                reasons.append("" if self.action == "flag" else f"{self.name}:{bad}")
            elif f and self.action == "drop":
                reasons.append(f"{self.name}:" + ",".join(sorted({x["type"] for x in f})))
            else:
                reasons.append("")
                if f and self.action == "redact":
                    texts[i] = redact(text, f, self.placeholder)
        out = self.decisions(reasons)
        out[f"{self.name}_found"] = found
        out[f"{self.name}_error"] = [bad for _, bad in cells]
        if self.action == "redact":
            out[self.text_column] = texts
        return out
