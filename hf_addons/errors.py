"""User-facing errors: a problem with what the user gave, told in one line that names the input.

The CLI prints these as ``hf-addons <command>: error: <message>`` with exit code 2 (``--debug`` shows the
traceback); library callers catch them as the ``ValueError`` they subclass.
"""

from __future__ import annotations


class InputError(ValueError):
    """An input file, directory, model name or option that cannot be used as given."""


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a ``raise ... from`` chain (what a wrapper such as datasets' hid)."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return exc
