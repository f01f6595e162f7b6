"""Conventions shared by every data step.

A step is a picklable callable ``step(batch) -> batch`` over a batch of columns (``dict[str, list]``), so it
runs unchanged as ``dataset.map(step, batched=True, num_proc=N)`` and as Ray Data's ``map_batches``
(which passes the same dict-of-columns shape with ``batch_format="numpy"`` / ``"pandas"`` converted to lists).

- A step never drops rows by itself: ``dataset.map`` with ``num_proc`` and Ray both need row counts to stay
  predictable, and the user must be able to see what a filter would remove. Filters add two columns,
  ``<name>_keep`` (bool) and ``<name>_reason`` (``""`` when kept, else a short machine-readable reason such as
  ``"gopher:mean_word_length"``); ``Pipeline`` (or ``dataset.filter``) applies them and counts the reasons.
- A step that fails on a row (undecodable bytes, a giant page) keeps the row and records ``<name>_error``
  instead of raising, so one bad document never stops a run.
- Steps hold only their configuration (plain values) and load models lazily on first call, so they pickle
  cheaply into worker processes.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

Batch = dict[str, list[Any]]


def batch_size(batch: Batch) -> int:
    """Number of rows in a dict-of-columns batch (0 for an empty dict).

    Args:
        batch: a dict of columns.

    Examples:

    ```python
    >>> batch_size({"text": ["a", "b"], "url": [None, None]}), batch_size({})
    (2, 0)
    ```
    """
    for column in batch.values():
        return len(column)
    return 0


def require_columns(batch: Batch, columns: Sequence[str], step: str) -> None:
    """Raise a clear error naming the missing columns and the ones present.

    Args:
        batch: a dict of columns.
        columns: the columns the step reads.
        step: the step's name, for the message.

    Examples:

    ```python
    >>> require_columns({"text": []}, ["html"], "extract")
    Traceback (most recent call last):
    KeyError: "extract: missing column(s) ['html']; the batch has ['text']"
    ```
    """
    missing = [c for c in columns if c not in batch]
    if missing:
        raise KeyError(f"{step}: missing column(s) {missing}; the batch has {sorted(batch)}")


def forward_names_to(package: str, module: str) -> Any:
    """A module ``__getattr__`` for ``package`` that serves every name of its submodule ``module``: a flat
    module of earlier releases turned into a folder (``hf_addons.data.dedup``) keeps its names for one release.

    Args:
        package: the package's ``__name__``.
        module: the submodule that holds the names (``"minhash"``).

    Examples:

    ```python
    __getattr__ = forward_names_to(__name__, "minhash")  # in hf_addons/data/dedup/__init__.py
    ```
    """

    def forward(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return forward


def renamed(owner: str, old: str, old_value: Any, new: str, new_value: Any, new_default: Any) -> Any:
    """The value of a renamed keyword: ``new_value``, or ``old_value`` with a DeprecationWarning when the caller
    used the old name (``old_value`` not None). Giving both names is an error.

    Args:
        owner: the function or class, for the messages.
        old: the old keyword name (its default must be None).
        old_value: what the caller passed under the old name.
        new: the new keyword name.
        new_value: what the caller passed under the new name.
        new_default: the new keyword's default (to tell whether both were given).

    Examples:

    ```python
    >>> renamed("read_warc", "max_payload_bytes", None, "max_bytes", 10, 20)
    10
    ```
    """
    if old_value is None:
        return new_value
    if new_value != new_default:
        raise TypeError(f"{owner}: give {new}= only ({old}= is its deprecated name)")
    warnings.warn(f"{owner}({old}=...) is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
    return old_value


def check_texts(texts: Sequence[Any], column: str, step: str) -> None:
    """Raise naming the column when it holds something other than strings (``None`` counts as empty).

    Args:
        texts: the column's values.
        column: its name, for the message.
        step: the step's name, for the message.

    Examples:

    ```python
    >>> check_texts(["a", None], "text", "perplexity")  # None is an empty text
    >>> check_texts([b"x"], "text", "perplexity")
    Traceback (most recent call last):
    TypeError: perplexity: column 'text' must hold text, found bytes (...); pass text_column=<the name of a string column>
    ```
    """
    bad = next((t for t in texts if t is not None and not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(
            f"{step}: column {column!r} must hold text, found {type(bad).__name__} ({str(bad)[:40]!r}); "
            "pass text_column=<the name of a string column>"
        )


def decode_cell(value: Any, max_chars: int) -> tuple[str | None, str]:
    """Decode one cell: ``(text, "")`` or ``(None, reason)`` for binary, non-text or oversized input.

    Shared by the secrets, PII and license steps: bytes are read as UTF-8, else Latin-1 (mixed encodings keep
    one character per byte), NUL bytes in the first 8 KiB mean binary, ``None`` is the empty text.

    Args:
        value: the cell (str, bytes, None or anything else).
        max_chars: longer text gives ``(None, "too_large")``.

    Examples:

    ```python
    >>> decode_cell(b"caf\\xc3\\xa9", 100), decode_cell(b"\\x00\\x01", 100)
    (('café', ''), (None, 'binary'))
    ```
    """
    if value is None:
        return "", ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if b"\x00" in raw[:8192]:
            return None, "binary"
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")  # mixed encodings: every byte maps, offsets stay per character
    if not isinstance(value, str):
        return None, f"not_text:{type(value).__name__}"
    if len(value) > max_chars:
        return None, "too_large"
    if "\x00" in value[:8192]:
        return None, "binary"
    return value, ""


def arrow_column(ds: Any, column: str) -> np.ndarray:
    """One column of a map-style dataset as numpy, read through Arrow (``ds[col]`` is row by row).

    Args:
        ds: a map-style ``datasets.Dataset``.
        column: the column read.

    Examples:

    ```python
    >>> from datasets import Dataset
    >>> arrow_column(Dataset.from_dict({"n": [1, 2]}), "n").tolist()
    [1, 2]
    ```
    """
    table = ds.select_columns([column]).with_format("arrow")[:]
    return table[column].to_numpy(zero_copy_only=False)


class Step:
    """Base class of a batched data step: subclasses implement ``process`` and set ``name``.

    Examples:

    ```python
    >>> class Upper(Step):
    ...     name = "upper"
    ...     def process(self, batch):
    ...         return {"upper": [t.upper() for t in batch["text"]]}
    >>> Upper()({"text": ["a"]})
    {'text': ['a'], 'upper': ['A']}
    ```
    """

    name: str = "step"

    def __call__(self, batch: Batch) -> Batch:
        out = dict(batch)
        out.update(self.process(batch))
        return out

    def process(self, batch: Batch) -> Batch:  # pragma: no cover - abstract
        """Return the new columns (each a list as long as the batch)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class FilterStep(Step):
    """A step that decides keep/reject per row: ``process`` returns ``<name>_keep`` and ``<name>_reason``.

    Examples:

    ```python
    >>> class NonEmpty(FilterStep):
    ...     name = "nonempty"
    ...     def process(self, batch):
    ...         return self.decisions(["" if t else "nonempty:empty" for t in batch["text"]])
    >>> NonEmpty()({"text": ["a", ""]})["nonempty_keep"]
    [True, False]
    ```
    """

    @property
    def keep_column(self) -> str:
        return f"{self.name}_keep"

    @property
    def reason_column(self) -> str:
        return f"{self.name}_reason"

    def decisions(self, reasons: list[str]) -> Batch:
        """Build the two decision columns from a per-row reason list (``""`` means keep)."""
        return {self.keep_column: [not r for r in reasons], self.reason_column: reasons}


class TextFilter(FilterStep):
    """A filter that judges one text at a time: subclasses implement ``reason(text)`` (``""`` keeps it).

    Examples:

    ```python
    >>> class Short(TextFilter):
    ...     name = "short"
    ...     def reason(self, text):
    ...         return "short:too_short" if len(text) < 3 else ""
    >>> Short()({"text": ["ab", "abcd"]})["short_reason"]
    ['short:too_short', '']
    ```
    """

    text_column = "text"

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], self.name)
        return self.decisions([self.reason(t or "") for t in batch[self.text_column]])

    def reason(self, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


# -- the step registry (as peft's ``register_peft_method``) ----------------------------------------------

EXTRAS = ("data", "privacy", "ray")


@dataclass(frozen=True)
class StepInfo:
    """What the registry knows of a step: its config name, class, extra and place in the default pipeline.

    Args:
        name: the config name.
        cls: the step class.
        extra: the ``pip install hf-addons[extra]`` it needs.
        default: position in the default pipeline (None: not in it).
        html_only: in the default pipeline only for HTML input.

    Examples:

    ```python
    >>> registered_steps()["c4"].extra
    'data'
    ```
    """

    name: str
    cls: type
    extra: str
    default: int | None
    html_only: bool

    @property
    def description(self) -> str:
        """The first paragraph of the class docstring, on one line."""
        paragraph = (inspect.getdoc(self.cls) or "").strip().split("\n\n")[0]
        return " ".join(paragraph.split())

    def options(self) -> dict[str, Any]:
        """Constructor keywords and their defaults (``inspect.Parameter.empty`` when required)."""
        params = inspect.signature(self.cls.__init__).parameters
        return {
            k: p.default
            for k, p in params.items()
            if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    def option_help(self) -> dict[str, str]:
        """One line per option from the ``Args:`` section of the class (or ``__init__``) docstring."""
        doc = inspect.getdoc(self.cls) or ""
        init_doc = inspect.getdoc(self.cls.__init__) or ""
        found: dict[str, str] = {}
        for text in (doc, init_doc):
            m = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)+)", text, re.MULTILINE)
            if not m:
                continue
            for line in m.group(1).splitlines():
                arg = re.match(r"^\s{2,8}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
                if arg and arg.group(1) not in found:
                    found[arg.group(1)] = arg.group(2)
        return found


_REGISTRY: dict[str, StepInfo] = {}
_T = TypeVar("_T", bound=type)


def register_step(
    name: str, *, extra: str = "data", default: int | None = None, html_only: bool = False
) -> Callable[[_T], _T]:
    """Class decorator: make a step available by ``name`` to ``Pipeline.from_config``, the CLI and YAML configs.

    Args:
        name: the config name (``steps: [name, {name: {option: value}}]``), unique across the suite.
        extra: the ``pip install hf-addons[extra]`` the step needs (one of ``EXTRAS``).
        default: position in the default pipeline of ``hf-addons data prepare`` (``None``: not in it).
        html_only: in the default pipeline only when the input holds HTML.

    Examples:

    ```python
    @register_step("my_filter")
    class MyFilter(TextFilter):
        name = "my_filter"

        def reason(self, text):
            return "" if text else "my_filter:empty"
    ```
    """
    if extra not in EXTRAS:
        raise ValueError(f"register_step({name!r}): unknown extra {extra!r}; expected one of {EXTRAS}")

    def decorate(cls: _T) -> _T:
        old = _REGISTRY.get(name)
        if old is not None and (old.cls.__module__, old.cls.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise ValueError(f"step name {name!r} is registered twice: {old.cls} and {cls}")
        _REGISTRY[name] = StepInfo(name, cls, extra, default, html_only)
        return cls

    return decorate


# The modules of hf_addons.data that register steps, imported by registered_steps(). A fixed list rather than a
# walk over the package, which imported torch and transformers (the proxy trainers, the edu model) for a
# pipeline that needs neither: ~6.7 s before the first step, 0.5 s now. A test walks every module and checks
# that no step is registered outside this list.
STEP_MODULES = (
    "extract.html",
    "filters.langid",
    "filters.quality",
    "dedup.minhash",
    "privacy.secrets",
    "privacy.pii",
    "privacy.licenses.step",
    "scoring.perplexity",
    "scoring.edu",
)


def _import_step_modules() -> list[str]:
    """Import the modules that register steps; returns those that failed (an extra that is not installed)."""
    package = __name__.rpartition(".")[0]  # hf_addons.data
    failed = []
    for name in STEP_MODULES:
        try:
            importlib.import_module(f"{package}.{name}")
        except ImportError as exc:  # an extra that is not installed: its steps are not listed
            failed.append(f"{package}.{name}: {exc}")
    return failed


def registered_steps() -> dict[str, StepInfo]:
    """Every registered step by config name (imports the step modules on first call).

    Examples:

    ```python
    >>> sorted(registered_steps())[:3]
    ['c4', 'edu', 'edu_judge']
    ```
    """
    _import_step_modules()
    return dict(sorted(_REGISTRY.items()))
