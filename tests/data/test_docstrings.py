"""The public API of ``hf_addons.data`` documents its arguments and shows an example that runs."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import hf_addons.data
from hf_addons.data.base import registered_steps


def _documented(obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    params = [
        p
        for p in inspect.signature(obj.__init__ if inspect.isclass(obj) else obj).parameters
        if p not in ("self", "args", "kwargs")
    ]
    missing = [] if "Examples:" in doc else ["Examples:"]
    if params and "Args:" not in doc:
        missing.append("Args:")
    return missing


def test_public_names_and_steps_have_args_and_examples():
    names = {n: getattr(hf_addons.data, n) for n in dir(hf_addons.data) if n != "MinHashParams"}
    names.update({info.name: info.cls for info in registered_steps().values()})
    bad = {n: m for n, obj in names.items() if (m := _documented(obj))}
    assert not bad, f"public API without Args:/Examples: sections: {bad}"


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(hf_addons.data.__path__, "hf_addons.data."))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    """Examples as transformers writes them (inside ```python fences): every ``>>>`` line runs and prints what
    the docstring says, except those marked ``# doctest: +SKIP`` (they need a model, data or Ray)."""
    module = importlib.import_module(name)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failed = 0
    for test in doctest.DocTestFinder().find(module):
        text = "\n".join(
            line for line in (test.docstring or "").splitlines() if not line.strip().startswith("```")
        )
        runner_test = parser.get_doctest(text, dict(module.__dict__), test.name, test.filename, test.lineno)
        failed += runner.run(runner_test, out=lambda s: print(s, end="")).failed
    assert failed == 0, f"{failed} docstring example(s) of {name} failed (printed above)"
