"""Token-true mixtures (``hf_addons.data.mixture``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data.helpers import TEXTS


# -- mixtures -------------------------------------------------------------------------------------------------
def _synthetic(n: int, mean_words: int, word: str, seed: int):
    from datasets import Dataset

    lens = np.random.default_rng(seed).geometric(1 / mean_words, n)
    return Dataset.from_dict({"text": [" ".join([word] * int(k)) for k in lens], "id": list(range(n))})


@pytest.fixture(scope="module")
def sources():
    return {
        "code": _synthetic(40_000, 200, "c", 0),
        "math": _synthetic(50_000, 40, "m", 1),
        "web": _synthetic(45_000, 400, "w", 2),
        "multilingual": _synthetic(40_000, 100, "x", 3),
    }


WEIGHTS = {"code": 0.3, "math": 0.1, "web": 0.4, "multilingual": 0.2}


def test_token_shares_within_one_point_over_100k_docs(sources):
    from hf_addons.data.mixture.mixture import build_mixture

    mix = build_mixture(sources, WEIGHTS, tokenizer="whitespace", num_docs=100_000, seed=0)
    rep = mix.report()
    assert rep["docs"] == 100_000 and rep["complete"]
    assert rep["max_abs_error_pp"] < 1.0
    doc_shares = [r["realised_doc_share"] for r in rep["sources"].values()]
    assert (
        max(doc_shares) - min(doc_shares) > 0.1
    )  # documents are far from the token targets: the fix matters
    assert rep["sources"]["web"]["realised_doc_share"] < 0.2 < rep["sources"]["web"]["realised_token_share"]


@pytest.mark.slow
def test_streaming_mixture_matches_targets(sources):
    from hf_addons.data.mixture.mixture import build_mixture

    streams = {k: v.to_iterable_dataset(num_shards=2) for k, v in sources.items()}
    mix = build_mixture(
        streams, WEIGHTS, tokenizer="whitespace", num_docs=100_000, seed=3, sample_docs=10_000
    )
    rep = mix.report()
    assert rep["docs"] == 100_000
    assert rep["max_abs_error_pp"] < 1.0


def test_seed_fixes_the_order_and_docs_unit(sources):
    from hf_addons.data.mixture.mixture import build_mixture

    small = {k: v.select(range(3000)) for k, v in sources.items()}
    runs = [build_mixture(small, WEIGHTS, tokenizer="whitespace", num_docs=2000, seed=s) for s in (7, 7, 8)]
    seqs = [r.dataset["source"][:] for r in runs]
    assert list(seqs[0]) == list(seqs[1]) and list(seqs[0]) != list(seqs[2])
    streamed = build_mixture(
        {k: v.to_iterable_dataset() for k, v in small.items()}, WEIGHTS, tokenizer="whitespace", num_docs=2000
    )
    rep = streamed.report()
    assert (
        rep["docs"] == 2000 and rep["max_abs_error_pp"] < 4.0
    )  # 2000 docs: noise; 100k docs: test_streaming
    docs = build_mixture(small, WEIGHTS, unit="docs", num_docs=2000, seed=0).report()
    assert docs["unit"] == "docs" and docs["max_abs_error_pp"] < 3.5  # 2000 draws: binomial noise only


def test_epoch_caps_and_too_small_sources(sources):
    from hf_addons.data.mixture.mixture import build_mixture

    small = {k: v.select(range(2000 if k == "math" else 8000)) for k, v in sources.items()}
    with pytest.raises(ValueError, match=r"source 'math' is too small .*max_epochs\['math'\]"):
        build_mixture(small, WEIGHTS, tokenizer="whitespace", num_docs=20_000)
    mix = build_mixture(small, WEIGHTS, tokenizer="whitespace", num_docs=20_000, max_epochs={"math": 4})
    rep = mix.report()
    assert rep["complete"] and 2.5 < rep["sources"]["math"]["epochs_used"] <= 4
    assert rep["max_abs_error_pp"] < 2.0  # 20k docs: sampling noise of long-tailed lengths, not bias
    # without num_docs the mixture stops at the first exhausted source instead of skewing the shares
    capped = build_mixture(small, WEIGHTS, tokenizer="whitespace")
    rep = capped.report()
    assert rep["sources"]["math"]["docs"] == 2000 and rep["docs"] < 8000
    assert rep["sources"]["web"]["epochs_used"] < 1 and rep["max_abs_error_pp"] < 4.0  # ~6.6k docs: noise


def test_weight_and_source_errors(sources):
    from datasets import Dataset

    from hf_addons.data.mixture.mixture import build_mixture

    two = {"a": sources["code"].select(range(100)), "b": sources["web"].select(range(100))}
    with pytest.raises(ValueError, match="sum to 0.9"):
        build_mixture(two, {"a": 0.5, "b": 0.4}, tokenizer="whitespace")
    with pytest.raises(ValueError, match=r"not in the mixture"):
        build_mixture(two, {"a": 0.5, "b": 0.25, "c": 0.25}, tokenizer="whitespace")
    with pytest.raises(ValueError, match=r"no weight for source\(s\) \['b'\]"):
        build_mixture(two, {"a": 1.0}, tokenizer="whitespace")
    with pytest.raises(ValueError, match=">= 0"):
        build_mixture(two, {"a": 1.5, "b": -0.5}, tokenizer="whitespace")
    with pytest.raises(TypeError, match="must be text"):
        build_mixture({"n": Dataset.from_dict({"text": [1, 2]})}, {"n": 1.0}, tokenizer="whitespace")
    with pytest.raises(ValueError, match="no text column"):
        build_mixture({"n": Dataset.from_dict({"body": ["x"]})}, {"n": 1.0})
    dropped = build_mixture(two, {"a": 1.0, "b": 0.0}, tokenizer="whitespace").report()
    assert dropped["dropped_sources"] == ["b"] and dropped["sources"]["b"]["docs"] == 0


def test_temperature_sampling(sources):
    from hf_addons.data.mixture.mixture import build_mixture, temperature_shares

    shares = temperature_shares({"en": 900, "fr": 90, "sw": 10}, 0.3)
    expected = np.array([900, 90, 10]) ** 0.3
    np.testing.assert_allclose(list(shares.values()), expected / expected.sum())
    assert temperature_shares({"en": 900, "sw": 10}, 0.0) == {"en": 0.5, "sw": 0.5}
    langs = {"en": sources["web"].select(range(15_000)), "sw": sources["math"].select(range(3000))}
    mix = build_mixture(langs, alpha=0.5, tokenizer="whitespace", max_epochs=None, num_docs=20_000)
    sizes = {k: len(langs[k]) * mix.mean_tokens[k] for k in langs}
    assert mix.targets == pytest.approx(temperature_shares(sizes, 0.5))
    assert mix.report()["max_abs_error_pp"] < 1.5
    with pytest.raises(ValueError, match="alpha must be"):
        temperature_shares({"a": 1}, 2.0)


def test_real_tokenizer_counts(tokenizer, sources):
    from datasets import Dataset

    from hf_addons.data.mixture.mixture import build_mixture

    texts = [t for t in TEXTS if t.strip()]
    mix = build_mixture({"t": Dataset.from_dict({"text": texts})}, {"t": 1.0}, tokenizer=tokenizer)
    counts = mix.dataset["n_tokens"][:]
    by_text = dict(zip(mix.dataset["text"][:], counts, strict=True))
    assert by_text == {t: len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts}


# -- CLI ------------------------------------------------------------------------------------------------------
def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_cli_mixture_and_errors(tmp_path, capsys):
    from hf_addons.cli import main

    a = _jsonl(tmp_path / "a.jsonl", [{"text": "x " * 10}] * 300)
    b = _jsonl(tmp_path / "b.jsonl", [{"text": "y " * 40}] * 300)
    base = ["data", "mixture", "--source", f"a={a}", "--source", f"b={b}", "--tokenizer", "whitespace"]
    report = tmp_path / "r.json"
    argv = base + ["--weights", "a=0.5,b=0.5", "--num-docs", "200", "--out", str(tmp_path / "m.jsonl")]
    assert main(argv + ["--report", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["docs"] == 200 and rep["sources"]["a"]["realised_doc_share"] > 0.7  # shorter docs, drawn more
    assert main(base + ["--weights", "a=0.5,b=0.6"]) == 2
    assert "sum to 1.1" in capsys.readouterr().err


def test_endless_stream_needs_a_length(sources):
    from hf_addons.data.mixture.mixture import build_mixture

    streams = {k: sources[k].select(range(500)).to_iterable_dataset() for k in ("code", "math")}
    with pytest.warns(UserWarning, match="endless"):
        mix = build_mixture(streams, {"code": 0.5, "math": 0.5}, tokenizer="whitespace", max_epochs=None)
    with pytest.raises(ValueError, match="endless"):
        mix.report()
    rep = mix.report(num_docs=3000)  # more than both sources hold: they repeat
    assert rep["docs"] == 3000 and rep["max_abs_error_pp"] < 4.0


def test_stratify_keeps_the_make_up_of_a_part_of_an_epoch():
    """A source stored by origin (8 files of 25 documents): a draw of a fifth of it takes each file's share
    to within a document with ``stratify``, where a simple random draw misses by several; the token share
    stays exact, seeds still draw different documents in shuffled order, and past one epoch every document
    comes once before any comes twice."""
    from datasets import Dataset

    from hf_addons.data.mixture.mixture import build_mixture

    files, per_file, words = 8, 25, 20
    filler = " ".join(["w"] * (words - 2))
    src = Dataset.from_dict({"text": [f"f{f} d{d} {filler}" for f in range(files) for d in range(per_file)]})
    other = Dataset.from_dict({"text": [" ".join(["o"] * words)] * 400})

    def draw(stratify: bool, seed: int, share: float = 0.2, tokens: int = 4000) -> list[str]:
        mix = build_mixture(
            {"src": src, "other": other},
            {"src": share, "other": 1 - share},
            tokenizer="whitespace",
            num_tokens=tokens,
            max_epochs=None,
            seed=seed,
            stratify=stratify,
        )
        assert abs(mix.report()["sources"]["src"]["error_pp"]) < 0.1 and mix.stratify == stratify
        return [t for t, s in zip(mix.dataset["text"], mix.dataset["source"], strict=True) if s == "src"]

    def file_of(texts: list[str]) -> list[int]:
        return [int(t.split()[0][1:]) for t in texts]

    expected = 0.2 * 4000 / words / files  # documents per file in a fifth of an epoch: 5
    drawn = {k: [draw(k, seed) for seed in range(8)] for k in (False, True)}
    misses = {
        k: [float(np.abs(np.bincount(file_of(t), minlength=files) - expected).max()) for t in v]
        for k, v in drawn.items()
    }
    assert max(misses[True]) <= 1, misses  # every file within a document of its share, every seed
    assert max(misses[False]) >= 3, misses  # a simple random fifth misses by several
    assert len({frozenset(t) for t in drawn[True]}) == 8  # every seed draws other documents ...
    assert all(file_of(t) != sorted(file_of(t)) for t in drawn[True])  # ... in shuffled order

    twice = draw(True, 3, share=0.5, tokens=12_000)  # 6000 of 4000 tokens: 1.5 epochs
    assert len(twice) == 300 and len(set(twice[:200])) == 200  # all once, then the spread half epoch
    assert np.abs(np.bincount(file_of(twice[200:]), minlength=files) - 12.5).max() <= 2

    with pytest.raises(ValueError, match="stratify needs map-style sources"):
        build_mixture(
            {"src": src.to_iterable_dataset()},
            {"src": 1.0},
            tokenizer="whitespace",
            num_docs=10,
            stratify=True,
        )
