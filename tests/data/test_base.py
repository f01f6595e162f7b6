"""The step contract of ``hf_addons.data.base``: the registry, the shared batch helpers, the old module paths."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import warnings

import pytest

import hf_addons.data
from hf_addons.data.base import (
    FilterStep,
    Step,
    TextFilter,
    decode_cell,
    register_step,
    registered_steps,
)

# base classes, and the signature steps a dedup stage contributes to the map (not configured on their own)
INTERNAL_STEPS = {"LMStep", "ExactHash", "MinHashSignatures"}


def _step_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(hf_addons.data.__path__, "hf_addons.data."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            is_step = issubclass(cls, Step) or (hasattr(cls, "signature_step") and hasattr(cls, "cluster"))
            if is_step and cls not in (Step, FilterStep, TextFilter) and cls.__name__ not in INTERNAL_STEPS:
                found[cls.__name__] = cls
    return found


def test_every_step_class_is_registered_with_a_description_and_extra():
    registry = registered_steps()
    registered = {info.cls for info in registry.values()}
    missing = sorted(n for n, cls in _step_classes().items() if cls not in registered)
    assert not missing, f"step classes without @register_step: {missing}"
    for name, info in registry.items():
        assert info.description, name
        assert info.extra in ("data", "privacy", "ray"), name
    defaults = sorted((i.default, n) for n, i in registry.items() if i.default is not None)
    assert [n for _, n in defaults] == [
        "extract", "langid", "gopher_quality", "gopher_repetition", "fineweb", "exact_dedup", "minhash_dedup"
    ]  # fmt: skip


def test_step_modules_name_every_module_that_registers_a_step_and_load_no_torch():
    """registered_steps() imports only base.STEP_MODULES: walking every module must register nothing more,
    and looking the steps up must not import torch or transformers (a pipeline pays for what it runs)."""
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import hf_addons.data\n"
        "from hf_addons.data.base import _REGISTRY, registered_steps\n"
        "listed = set(registered_steps())\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "for info in pkgutil.walk_packages(hf_addons.data.__path__, 'hf_addons.data.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps({'unlisted': sorted(set(_REGISTRY) - listed), 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"unlisted": [], "heavy": []}


def test_default_steps_come_from_the_registry():
    from hf_addons.data.executors.pipeline import default_step_names, default_steps

    assert default_step_names(html=True)[0] == "extract"
    assert "extract" not in default_step_names(html=False)
    assert [type(s).__name__ for s in default_steps(html=False)][:2] == [
        "LanguageFilter",
        "GopherQualityFilter",
    ]


def test_from_config_builds_any_registered_step_and_names_unknown_ones():
    from hf_addons.data.executors.pipeline import PIPELINE_OPTIONS, Pipeline

    assert set(PIPELINE_OPTIONS) == {"num_proc", "map_batch_size", "shard_rows", "keep_rejects"}
    pipe = Pipeline.from_config({"steps": [{"secrets": {"action": "flag"}}, "c4"], "shard_rows": 7})
    assert [type(s).__name__ for s in pipe.steps] == ["SecretFilter", "C4Filter"]
    assert pipe.steps[0].action == "flag" and pipe.shard_rows == 7
    with pytest.raises(ValueError, match="unknown step 'nope'.*'secrets'"):
        Pipeline.from_config({"steps": ["nope"]})
    with pytest.raises(ValueError, match="unknown config keys \\['shards'\\]"):
        Pipeline.from_config({"steps": ["c4"], "shards": 2})


def test_register_step_rejects_unknown_extras_and_a_second_class_under_one_name():
    with pytest.raises(ValueError, match="unknown extra 'gpu'"):
        register_step("x_test", extra="gpu")
    with pytest.raises(ValueError, match="registered twice"):

        @register_step("c4")
        class Other(TextFilter):
            """Another C4."""

            def reason(self, text: str) -> str:
                return ""


def test_text_filter_calls_reason_per_text():
    class Short(TextFilter):
        name = "short"

        def reason(self, text: str) -> str:
            return "short:too_short" if len(text) < 3 else ""

    out = Short()({"text": ["ab", "abcd", None]})
    assert out["short_keep"] == [False, True, False]
    assert out["short_reason"] == ["short:too_short", "", "short:too_short"]
    with pytest.raises(KeyError, match="missing column"):
        Short()({"content": ["x"]})


def test_decode_cell_reasons():
    assert decode_cell(None, 10) == ("", "")
    assert decode_cell(b"caf\xc3\xa9", 10) == ("café", "")
    assert decode_cell(b"caf\xe9", 10) == ("café", "")  # not UTF-8: Latin-1, one character per byte
    assert decode_cell(b"a\x00b", 10) == (None, "binary")
    assert decode_cell("x" * 11, 10) == (None, "too_large")
    assert decode_cell(3, 10) == (None, "not_text:int")


def test_data_steps_cli_lists_every_step(capsys):
    from hf_addons.cli import main

    assert main(["data", "steps"]) == 0
    out = capsys.readouterr().out
    for name in registered_steps():
        assert f"\n{name}  (" in "\n" + out, name
    assert "min_doc_words=50" in out and "extra: privacy" in out


def test_old_module_paths_import_the_moved_modules_with_a_warning():
    from hf_addons.data.privacy import secrets

    with pytest.warns(
        DeprecationWarning, match="hf_addons.data.secrets moved to hf_addons.data.privacy.secrets"
    ):
        old = importlib.import_module("hf_addons.data.secrets")
    assert old is secrets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from hf_addons.data.licenses import rules as old_rules
    from hf_addons.data.privacy.licenses import rules

    assert old_rules is rules  # one module object, not a second copy
    from hf_addons.data.dedup import MinHashDeduplicator, _word_ngram_hashes  # package forwards its module

    assert MinHashDeduplicator.__module__ == "hf_addons.data.dedup.minhash" and callable(_word_ngram_hashes)


def test_every_lazy_public_name_resolves():
    for name in dir(hf_addons.data):
        assert getattr(hf_addons.data, name) is not None, name


def test_renamed_keywords_still_work_for_one_release():
    from hf_addons.data.base import renamed
    from hf_addons.data.executors.pipeline import Pipeline
    from hf_addons.data.extract.html import HtmlToMarkdown
    from hf_addons.data.filters.quality import C4Filter

    assert renamed("f", "old", None, "new", 3, 1) == 3
    with pytest.warns(DeprecationWarning, match=r"f\(old=...\) is deprecated; use new="):
        assert renamed("f", "old", 2, "new", 1, 1) == 2
    with pytest.raises(TypeError, match="give new= only"):
        renamed("f", "old", 2, "new", 3, 1)
    with pytest.warns(DeprecationWarning, match="batch_size"):
        assert Pipeline([C4Filter()], batch_size=7).map_batch_size == 7
    with pytest.warns(DeprecationWarning, match="batch_size"):
        assert Pipeline.from_config({"steps": ["c4"], "batch_size": 5}).map_batch_size == 5
    with pytest.warns(DeprecationWarning, match="max_html_bytes"):
        assert HtmlToMarkdown(max_html_bytes=10).max_bytes == 10
