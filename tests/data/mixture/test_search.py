"""Token-true mixtures whatever the stored order, and the RegMix-style mixture search (tiny proxies)."""

from __future__ import annotations

import numpy as np
import pytest


def _sorted_source(n: int, mean_words: int, word: str, seed: int, order: str):
    from datasets import Dataset

    lens = np.random.default_rng(seed).geometric(1 / mean_words, n)
    if order == "ascending":
        lens = np.sort(lens)
    elif order == "descending":
        lens = np.sort(lens)[::-1]
    return Dataset.from_dict({"text": [" ".join([word] * int(k)) for k in lens]})


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize("streaming", [False, True])
def test_shares_hold_for_sources_stored_in_length_order(order, streaming):
    from hf_addons.data.mixture.mixture import build_mixture

    srcs = {"long": _sorted_source(600, 300, "l", 0, order), "short": _sorted_source(3000, 20, "s", 1, order)}
    if streaming:
        srcs = {k: v.to_iterable_dataset(num_shards=8) for k, v in srcs.items()}
    weights = {"long": 0.3, "short": 0.7}
    mix = build_mixture(srcs, weights, tokenizer="whitespace", num_tokens=40_000, seed=0, shuffle_buffer=500)
    rep = mix.report()
    assert abs(rep["tokens"] - 40_000) < 300
    # exact accounting: off by at most half a long document, not by the stored order (0.04-0.67 before)
    assert rep["max_abs_error_pp"] < 0.5, rep["sources"]
    # drawn in a random order: the long source's taken documents are not its stored head
    taken = np.asarray(
        mix.dataset.filter(lambda r: r["source"] == "long")["n_tokens"][:]
        if not streaming
        else [r["n_tokens"] for r in mix.dataset if r["source"] == "long"]
    )
    all_long = np.asarray([len(t.split()) for t in _sorted_source(600, 300, "l", 0, order)["text"]])
    assert abs(taken.mean() - all_long.mean()) < 0.25 * all_long.mean()


def test_num_tokens_beyond_the_caps_names_the_source_and_epochs():
    from hf_addons.data.mixture.mixture import build_mixture

    srcs = {"a": _sorted_source(100, 50, "a", 0, "random"), "b": _sorted_source(1000, 50, "b", 1, "random")}
    with pytest.raises(ValueError, match=r"source 'a' is too small .* (\d\.\d\d) epochs"):
        build_mixture(srcs, {"a": 0.5, "b": 0.5}, tokenizer="whitespace", num_tokens=20_000)
    mix = build_mixture(
        srcs, {"a": 0.5, "b": 0.5}, tokenizer="whitespace", num_tokens=20_000, max_epochs={"a": 2.5}
    )
    rep = mix.report()
    assert 1.5 < rep["sources"]["a"]["epochs_used"] <= 2.5 and rep["max_abs_error_pp"] < 0.5


# -- mixture search ---------------------------------------------------------------------------------------------
def _domains(test: bool = False):
    """Two real domains that no edit of this repository moves: Python source (the standard library's
    ``email``, ``json`` and ``logging`` packages) and English prose (the Python reference manual's topics that
    ``pydoc`` ships); the first two pieces of each are the validation set (with ``test``: the next two are a
    test set, and neither is trained on). Both are fixed per Python version."""
    import email
    import json
    import logging
    from pathlib import Path
    from pydoc_data.topics import topics

    from datasets import Dataset

    files = sorted(p for m in (email, json, logging) for p in Path(m.__file__).parent.glob("*.py"))
    code = [t[i : i + 400] for t in (p.read_text()[:4000] for p in files) for i in range(0, len(t), 400)]
    prose = [para for name in sorted(topics) for para in topics[name].split("\n\n")]
    prose = [t[:400] for t in prose if len(t) > 200 and not t[0].isspace()][:380]  # no indented code

    def split(texts):
        train = Dataset.from_dict({"text": texts[4:] if test else texts[2:]})
        return train, Dataset.from_dict({"text": texts[:2] * 4}), Dataset.from_dict({"text": texts[2:4] * 4})

    (ct, cv, cx), (pt, pv, px) = split(code), split(prose)
    if test:
        return {"code": ct, "prose": pt}, {"code": cv, "prose": pv}, {"code": cx, "prose": px}
    return {"code": ct, "prose": pt}, {"code": cv, "prose": pv}


TINY = dict(
    hidden_size=8,
    num_layers=1,
    num_heads=2,
    intermediate_size=16,
    seq_len=32,
    batch_size=8,
    vocab=512,
    learning_rate=5e-3,  # a tiny proxy needs a larger rate than the 1M default
)


@pytest.mark.slow  # 5 proxy trainings: ~30 s on an idle 2-core machine
def test_search_end_to_end_feeds_build_mixture(tmp_path):
    from hf_addons.data.mixture.mixture import build_mixture
    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.search import search_mixture

    train, val = _domains()
    # 16 optimizer steps: at 4 (1024 tokens) every loss sat within 0.01 of log(512) and the trend was noise
    kw = dict(tokens_per_run=4096, num_runs=5, proxy=ProxyConfig(**TINY), eval_tokens=256, candidates=2000)
    import datasets

    datasets.enable_progress_bars()
    res = search_mixture(train, val, objective="prose", max_share={"code": 0.9}, cache_dir=tmp_path, **kw)
    assert not datasets.are_progress_bars_disabled()  # the library leaves the caller's setting alone
    assert len(res.runs) == 5 and set(res.cv_spearman) == {"linear-log", "gradient-boosting"}
    assert abs(sum(res.weights.values()) - 1) < 1e-9 and res.weights["code"] <= 0.9 + 1e-9
    for r in res.runs:  # every proxy trained on a token-true mixture of its sampled weights
        assert abs(r["realised_shares"]["code"] - r["spec"]["weights"]["code"]) < 0.1
        assert set(r["val_loss"]) == {"code", "prose"} and all(np.isfinite(list(r["val_loss"].values())))
    # more prose in the mix -> lower prose loss: the measured trend the regression must pick up
    w = np.array([r["spec"]["weights"]["prose"] for r in res.runs])
    y = res.measured()
    assert np.corrcoef(w, y)[0, 1] < 0
    assert "Mixture selection" in res.to_card() and "prose" in res.to_card()
    # what the fit expects to gain over natural and uniform, next to its error on one run
    lead = res.predicted_leads()
    at = res.predict([res.natural, {"code": 0.5, "prose": 0.5}, res.weights])
    assert lead["natural"] == pytest.approx(at[0] - at[2]) and lead["uniform"] == pytest.approx(at[1] - at[2])
    assert lead["oof_rmse"] == pytest.approx(np.sqrt(np.mean((np.array(res.oof_predictions) - y) ** 2)))
    assert f"{lead['natural']:+.4f} at the natural mixture" in res.to_card()
    assert res.to_dict()["predicted_leads"] == lead
    assert res.plot(tmp_path / "p.png").stat().st_size > 1000
    # resumable: a second call reads every run back from the cache
    again = search_mixture(train, val, objective="prose", max_share={"code": 0.9}, cache_dir=tmp_path, **kw)
    assert [r["seconds"] for r in again.runs] == [r["seconds"] for r in res.runs]
    mix = build_mixture(train, res.weights, tokenizer="whitespace", max_epochs=None, num_tokens=2000)
    assert mix.report()["max_abs_error_pp"] < 10  # tiny sources: few documents per share


def test_corners_are_each_source_alone_where_the_constraints_allow():
    from hf_addons.data.mixture.space import SearchSpace

    space = SearchSpace(
        tokens={"code": 10**6, "math": 10**6, "web": 1000},
        tokens_per_run=10_000,
        min_share={"code": 0.0, "math": 0.1, "web": 0.0},
        max_share={"code": 0.8, "math": 1.0, "web": 1.0},
        max_epochs={"code": None, "math": None, "web": 4.0},
    )
    w, skipped = space.corners()
    # code alone would take 0.9 > max_share 0.8; web alone 0.9 of 10k tokens = 9 epochs of its 1,000 > 4
    assert [dict(zip(space.names, row, strict=True)) for row in w.tolist()] == [
        {"code": 0.0, "math": 1.0, "web": 0.0}
    ]
    assert set(skipped) == {"code", "web"}
    assert "0.900 exceeds its bound 0.800" in skipped["code"] and "0.400" in skipped["web"]


def test_traces_in_a_recommendation_are_dropped_within_the_constraints():
    """The mean of the best candidates leaves shares such as 0.0003 of a source: a few documents of a real
    run that no proxy measured. They go to 0, unless a constraint needs them."""
    from hf_addons.data.mixture.space import SearchSpace

    names = ["code", "math", "web"]
    kw = dict(tokens=dict.fromkeys(names, 10**6), tokens_per_run=10_000, max_epochs=dict.fromkeys(names))
    free = SearchSpace(min_share=dict.fromkeys(names, 0.0), max_share=dict.fromkeys(names, 1.0), **kw)
    w = np.array([0.9995, 0.0003, 0.0002])
    assert free.drop_small(w, 1e-3).tolist() == [1.0, 0.0, 0.0]
    assert free.drop_small(w, 0.0).tolist() == w.tolist()
    floor = SearchSpace(
        min_share={"code": 0, "math": 2e-4, "web": 0}, max_share=dict.fromkeys(names, 1.0), **kw
    )
    assert floor.drop_small(w, 1e-3)[1] == pytest.approx(3e-4, rel=1e-3)  # math's min_share keeps it
    capped = SearchSpace(
        min_share=dict.fromkeys(names, 0.0), max_share={"code": 0.9996, "math": 1, "web": 1}, **kw
    )
    assert capped.drop_small(w, 1e-3).tolist() == w.tolist()  # code alone would exceed its max_share


def test_lower_concentrations_draw_sparser_mixtures():
    """RegMix's draws reach the simplex's corners and edges; ours, at the default concentrations, stay near
    the natural mixture. A lower concentration moves the draws outwards, within the same constraints."""
    from hf_addons.data.mixture.space import CONCENTRATION, SearchSpace

    names = ["code", "math", "multilingual", "web"]
    space = SearchSpace(
        tokens=dict(zip(names, [250_000, 150_000, 550_000, 50_000], strict=True)),
        tokens_per_run=500_000,
        min_share=dict.fromkeys(names, 0.0),
        max_share=dict.fromkeys(names, 1.0),
        max_epochs=dict.fromkeys(names, 4.0),
    )
    dense = space.sample(2000, np.random.default_rng(0), CONCENTRATION)
    sparse = space.sample(2000, np.random.default_rng(0), (0.03, 0.1))
    near_corner = [float((w.max(1) > 0.9).mean()) for w in (dense, sparse)]
    assert near_corner[0] < 0.1 < 0.5 < near_corner[1], near_corner
    for w in (dense, sparse):  # web's 4 epochs of 50k tokens cap its share of 500k at 0.4
        assert np.allclose(w.sum(1), 1) and w[:, 3].max() <= 0.4 + 1e-9 and space.feasible(w).all()


@pytest.mark.slow  # 6 proxy trainings: ~40 s on an idle 2-core machine
def test_corner_runs_join_the_draws_and_leave_them_as_they_were(tmp_path):
    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.search import search_mixture

    train, val = _domains()
    kw = dict(tokens_per_run=4096, num_runs=5, proxy=ProxyConfig(**TINY), eval_tokens=256, candidates=2000)
    res = search_mixture(
        train, val, objective="prose", max_share={"code": 0.9}, corners=True, cache_dir=tmp_path, **kw
    )
    # code alone is over its max_share: skipped and said why; prose alone is the sixth run
    assert res.corner_runs == 1 and set(res.corners_skipped) == {"code"} and len(res.runs) == 6
    assert res.runs[-1]["spec"]["weights"] == {"code": 0.0, "prose": 1.0}
    assert set(res.cv_spearman_draws) == set(res.cv_spearman) == {"linear-log", "gradient-boosting"}
    assert res.to_dict()["corner_runs"] == 1 and "1 of one source alone" in res.to_card()
    assert res.runs[-1]["realised_shares"] == {"code": 0.0, "prose": 1.0}  # it trained on prose alone
    assert max(r["spec"]["weights"]["prose"] for r in res.runs[:5]) < 0.99  # where no draw went
    # the draws are the ones a search without corners makes: every one is read back from the cache
    plain = search_mixture(train, val, objective="prose", max_share={"code": 0.9}, cache_dir=tmp_path, **kw)
    assert plain.corner_runs == 0 and not plain.cv_spearman_draws
    assert [r["seconds"] for r in plain.runs] == [r["seconds"] for r in res.runs[:5]]


def test_search_rejects_bad_input_before_training(tmp_path):
    from datasets import Dataset

    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.data.mixture.proxy import ProxyConfig, proxy_spec
    from hf_addons.data.mixture.search import search_mixture
    from hf_addons.data.mixture.space import SearchSpace

    train, val = _domains()
    kw = dict(tokens_per_run=1024, num_runs=5, proxy=ProxyConfig(**TINY), eval_tokens=256, cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"objective 'math' is neither 'mean' nor a validation domain"):
        search_mixture(train, val, objective="math", **kw)
    with pytest.raises(ValueError, match=r"objective names domain\(s\) \['web'\]"):
        search_mixture(train, val, objective={"web": 1.0}, **kw)
    empty = dict(train, blank=Dataset.from_dict({"text": ["", ""]}))
    with pytest.raises(ValueError, match=r"\['blank'\] give no tokens"):
        search_mixture(empty, val, **kw)
    tiny = dict(train, tiny=Dataset.from_dict({"text": ["a few words only"]}))
    with pytest.raises(ValueError, match=r"source 'tiny' is too small .* epochs > max_epochs 4"):
        search_mixture(tiny, val, min_share={"tiny": 0.2}, **kw)
    with pytest.raises(ValueError, match=r"min_weight=0.6: give a share in \[0, 1/2\)"):
        search_mixture(train, val, min_weight=0.6, **kw)
    odd = dict(kw, proxy=ProxyConfig(**dict(TINY, hidden_size=10, num_heads=2)))  # RoPE head dim 5
    with pytest.raises(Exception, match="even rotary"):
        search_mixture(train, val, **odd)
    assert not list(tmp_path.glob("*.json"))  # nothing was trained
    space, bundle, _ = prepare(train, val, tokens_per_run=1024, seq_len=32, max_epochs={"code": 1.0})
    with pytest.raises(ValueError, match="sum to 0.9"):
        proxy_spec({"code": 0.5, "prose": 0.4}, space, ProxyConfig(**TINY), bundle, 0)
    with pytest.raises(ValueError, match=r"source 'code' has \d+ tokens .* needs .* epochs > max_epochs 1.0"):
        proxy_spec({"code": 0.99, "prose": 0.01}, space, ProxyConfig(**TINY), bundle, 0, tokens=10**6)
    with pytest.raises(ValueError, match="sum to 1.0001, not 1"):  # the digits that differ are shown
        proxy_spec({"code": 0.5, "prose": 0.5001}, space, ProxyConfig(**TINY), bundle, 0)
    # four weights rounded to a cache key's 6 decimals can sum to 1 +- 2e-6: accepted back as they are
    four = SearchSpace(
        tokens=dict.fromkeys("abcd", 10**6),
        tokens_per_run=1000,
        min_share=dict.fromkeys("abcd", 0.0),
        max_share=dict.fromkeys("abcd", 1.0),
        max_epochs=dict.fromkeys("abcd"),
    )
    assert four.check(dict.fromkeys("abcd", 0.2500005)) == dict.fromkeys("abcd", 0.2500005)


def test_target_tokens_holds_the_epoch_caps_at_the_run_the_mixture_is_for(tmp_path):
    """A quarter-epoch prose cap at a 4x larger target run bounds the proxies' sampled mixtures and the
    recommendation, though every proxy alone could take more of the source; the card says where the caps
    hold."""
    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.search import search_mixture
    from hf_addons.data.mixture.space import SearchSpace

    train, val = _domains()
    caps = {"prose": 0.25}
    space, _, _ = prepare(train, val, tokens_per_run=4096, seq_len=32, max_epochs=caps)
    prose_cap = 0.25 * space.tokens["prose"] / (4 * 4096)  # the largest prose share 4 x 4096 tokens can take
    assert 0.1 < prose_cap < 0.6  # binding at the target, not at the proxies' budget
    kw = dict(tokens_per_run=4096, num_runs=5, proxy=ProxyConfig(**TINY), eval_tokens=256, candidates=2000)
    res = search_mixture(
        train, val, objective="prose", max_epochs=caps, target_tokens=4 * 4096, cache_dir=tmp_path, **kw
    )
    shares = [r["spec"]["weights"]["prose"] for r in res.runs] + [res.weights["prose"]]
    assert max(shares) <= prose_cap + 1e-6
    assert res.weights["prose"] > 0.8 * prose_cap  # the prose objective pushes the recommendation to its cap
    assert (
        res.to_dict()["target_tokens"] == 4 * 4096 and res.to_dict()["constraints"]["at_tokens"] == 4 * 4096
    )
    assert "caps hold at 16,384 tokens" in res.to_card()
    with pytest.raises(ValueError, match="target_tokens=0"):
        search_mixture(train, val, target_tokens=0, cache_dir=tmp_path, **kw)
    small = dict(code=1000, prose=1000)
    with pytest.raises(ValueError, match="cannot fill 8000 tokens"):
        SearchSpace(
            small, 1000, dict.fromkeys(small, 0.0), dict.fromkeys(small, 1.0), dict.fromkeys(small, 2.0), 8000
        ).validate()


def test_validation_blocks_cover_every_part_of_the_validation_set():
    """A validation set in file order (German catalogues first, then French) is evaluated on both languages."""
    from datasets import Dataset

    from hf_addons.data.mixture.bundle import prepare

    train, _ = _domains()
    de = [
        f"Datei {i} konnte nicht geöffnet werden: Zugriff verweigert. Bitte erneut versuchen."
        for i in range(60)
    ]
    fr = [
        f"Impossible d'ouvrir le fichier {i} : accès refusé. Veuillez réessayer plus tard." for i in range(60)
    ]
    val = {"code": Dataset.from_dict({"text": de + fr}), "prose": Dataset.from_dict({"text": fr + de})}
    space, bundle, tok = prepare(train, val, tokens_per_run=1024, seq_len=32, eval_tokens=512)

    def token_set(texts):
        return {i for t in texts for i in tok(t, add_special_tokens=False)["input_ids"]}

    only_de, only_fr = token_set(de) - token_set(fr), token_set(fr) - token_set(de)
    assert len(tok("".join(de), add_special_tokens=False)["input_ids"]) > 512  # the first 512 are German
    for d, blocks in bundle.val_blocks.items():
        assert blocks.shape == (16, 32)  # eval_tokens // seq_len blocks
        first, second = (only_de, only_fr) if d == "code" else (only_fr, only_de)
        head, tail = set(blocks[0].tolist()), set(blocks[-1].tolist())
        assert head & first and not head & second  # the set's start ...
        assert tail & second and not tail & first  # ... and its end, in file order


def test_regression_picks_up_a_known_response():
    from hf_addons.data.mixture.regression import fit_regressor

    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(4), 40)
    y = 3 - np.log(w[:, 0] + 0.05) * 0.2 - np.log(w[:, 2] + 0.05) * 0.1 + rng.normal(0, 0.01, 40)
    fit = fit_regressor(w, y)
    assert fit["cv_spearman"]["linear-log"] > 0.9 and fit["name"] in fit["cv_spearman"]
    assert fit["cv_spearman_test"] == {}
    # test sets: the same response measured again with its own noise ranks like the fitted one; a response
    # the runs do not determine (the same values shuffled) is not ranked
    again = y + rng.normal(0, 0.01, 40)
    fit = fit_regressor(w, y, y_test=again)
    assert fit["cv_spearman_test"]["linear-log"] > 0.85
    fit = fit_regressor(w, y, y_test=rng.permutation(y))
    assert max(abs(v) for v in fit["cv_spearman_test"].values()) < 0.4
    # with a subset (the draws, without corner runs) the test sets are scored on those rows alone
    spoilt = np.concatenate([again[:30], again[30:][::-1] + 1.0])
    fit = fit_regressor(w, y, subset=np.arange(30), y_test=spoilt)
    assert fit["cv_spearman_test"]["linear-log"] > 0.85


def test_regression_names_a_diverged_run():
    from hf_addons.data.mixture.regression import fit_regressor

    w = np.random.default_rng(0).dirichlet(np.ones(3), 8)
    y = np.linspace(3.0, 4.0, 8)
    y[5] = np.nan
    with pytest.raises(ValueError, match=r"proxy runs \[5\] have a non-finite objective"):
        fit_regressor(w, y)


def _jsonl(tmp_path, sources, suffix):
    import json

    paths = {}
    for name, ds in sources.items():
        path = tmp_path / f"{name}-{suffix}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ds["text"]))
        paths[name] = path
    return paths


def _cli_args(tmp_path, objective, test=False):
    train, val, held = _domains(test=True)
    tr, va = _jsonl(tmp_path, train, "train"), _jsonl(tmp_path, val, "val")
    args = ["data", "mixture-search", "--objective", objective, "--out-dir", str(tmp_path / "out")]
    for name in train:
        args += ["--source", f"{name}={tr[name]}", "--validation", f"{name}={va[name]}"]
    if test:
        te = _jsonl(tmp_path, held, "test")
        args += [a for name in te for a in ("--test", f"{name}={te[name]}")]
    tiny = ["--hidden-size", "8", "--layers", "1", "--seq-len", "32", "--vocab", "512", "--tokens-per-run"]
    return args + tiny + ["1024", "--runs", "5"]


def test_cli_rejects_an_objective_without_validation_set_before_training(tmp_path, capsys):
    from hf_addons.cli import main

    assert main(_cli_args(tmp_path, "math")) == 2
    assert "objective 'math' is neither 'mean' nor a validation domain" in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob("*.json"))  # nothing was trained
    assert main([*_cli_args(tmp_path, "mean"), "--max-doc-tokens", "16"]) == 2  # pieces under a block
    assert "max_doc_tokens=16 is under one block (seq_len=32)" in capsys.readouterr().err
    assert main([*_cli_args(tmp_path, "mean"), "--check-tokens", "200"]) == 2
    assert "--check-tokens 200 is under 10 blocks of --seq-len 32" in capsys.readouterr().err
    doremi = [a for a in _cli_args(tmp_path, "mean") if a not in ("--objective", "mean", "--runs", "5")]
    assert main([*doremi, "--method", "doremi", "--check-tokens", "2048"]) == 2
    assert "--check-tokens only apply to --method regmix" in capsys.readouterr().err
    assert main([*doremi, "--method", "doremi", "--target-tokens", "2048"]) == 2
    assert "--target-tokens only apply to --method regmix" in capsys.readouterr().err
    assert main([*doremi, "--method", "doremi", "--corners"]) == 2
    assert "--corners only apply to --method regmix" in capsys.readouterr().err
    assert main([*doremi, "--method", "doremi", "--concentration", "0.1"]) == 2
    assert "--concentration only apply to --method regmix" in capsys.readouterr().err
    doremi = [
        a for a in _cli_args(tmp_path, "mean", test=True) if a not in ("--objective", "mean", "--runs", "5")
    ]
    assert main([*doremi, "--method", "doremi"]) == 2
    assert "--test only apply to --method regmix" in capsys.readouterr().err
    # one test set: the mean objective weights code too
    assert main([*_cli_args(tmp_path, "mean"), "--test", f"prose={tmp_path / 'prose-val.jsonl'}"]) == 2
    assert "weights domain(s) ['code'] without a test set" in capsys.readouterr().err
    assert main([*_cli_args(tmp_path, "mean"), "--concentration", "0.1,x"]) == 2
    assert "--concentration: expected numbers separated by commas, got '0.1,x'" in capsys.readouterr().err
    assert main([*_cli_args(tmp_path, "mean"), "--concentration", "0.1,0"]) == 2
    assert "concentration=(0.1, 0.0): give one or more positive numbers" in capsys.readouterr().err
    assert main([*_cli_args(tmp_path, "mean"), "--target-tokens", "0"]) == 2
    assert "target_tokens=0" in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob("*.json"))


@pytest.mark.slow  # 5 tiny proxy trainings
def test_cli_search_writes_weights_for_build_mixture(tmp_path):
    import json

    from hf_addons.cli import main

    check = [
        "--check-tokens",
        "2048",
        "--check-hidden-size",
        "16",
        "--check-layers",
        "1",
        "--check-seeds",
        "1",
        "--target-tokens",
        "2048",  # the check's budget: the recommendation is within its caps
    ]
    assert main([*_cli_args(tmp_path, "mean", test=True), *check]) == 0
    weights = json.loads((tmp_path / "out" / "weights.json").read_text())
    assert set(weights) == {"code", "prose"} and abs(sum(weights.values()) - 1) < 1e-9
    search = json.loads((tmp_path / "out" / "search.json").read_text())
    assert search["runs"] == 5 and search["proxy"]["vocab"] == 512 and search["tokens_per_run"] == 1024
    assert search["target_tokens"] == 2048 and search["constraints"]["at_tokens"] == 2048
    assert search["proxy"]["learning_rate"] == pytest.approx(1.25e-3 * 128 / 8)  # the rate follows the width
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 5 + 3  # the search's, the check's
    checked = json.loads((tmp_path / "out" / "check.json").read_text())
    assert checked["tokens"] == 2048 and set(checked["scores"]) == {"optimum", "natural", "uniform"}
    # the test sets: scored by every run, reported beside the validation sets, chosen by nothing
    assert search["test_objective"] == {"code-test": 0.5, "prose-test": 0.5}
    assert set(search["cv_spearman_test"]) == {"linear-log", "gradient-boosting"}
    assert set(checked["test"]["scores"]) == {"optimum", "natural", "uniform"}
    card = (tmp_path / "out" / "dataset-card.md").read_text()
    assert "Checked at" in card and "held-out test sets" in card


def test_seed_parts_vary_one_source_of_randomness_at_a_time():
    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.data.mixture.proxy import ProxyConfig, proxy_mixture, proxy_spec, run_key, seed_of

    train, val = _domains()
    space, bundle, _ = prepare(train, val, tokens_per_run=4096, seq_len=32)
    w, proxy = {"code": 0.5, "prose": 0.5}, ProxyConfig(**TINY)

    def spec(seed):
        return proxy_spec(w, space, proxy, bundle, seed)

    def texts(seed):
        return proxy_mixture(spec(seed), bundle).dataset["text"][:]

    # equal parts are the plain seed: the same run and cache entry
    assert run_key(spec({"init": 3, "sample": 3, "order": 3})) == run_key(spec(3))
    assert [seed_of(spec(3), p) for p in ("init", "sample", "order")] == [3, 3, 3]
    assert seed_of(spec({"init": 1, "sample": 0, "order": 2}), "order") == 2
    # only the sample seed changes which documents the mixture draws
    assert texts({"init": 1, "sample": 0, "order": 1}) == texts(0)
    assert sorted(texts({"init": 0, "sample": 1, "order": 0})) != sorted(texts(0))
    with pytest.raises(ValueError, match=r"exactly the parts \('init', 'sample', 'order'\), got \['data'\]"):
        spec({"data": 1})


def test_a_repeated_spec_trains_once(tmp_path, monkeypatch):
    import hf_addons.data.mixture.proxy as proxy_runs
    from hf_addons.data.mixture.bundle import prepare, save_bundle
    from hf_addons.data.mixture.proxy import ProxyConfig, proxy_spec, run_proxies

    train, val = _domains()
    space, bundle, _ = prepare(train, val, tokens_per_run=2048, seq_len=32, eval_tokens=256)
    path = save_bundle(bundle, tmp_path)
    a = proxy_spec({"code": 0.5, "prose": 0.5}, space, ProxyConfig(**TINY), bundle, 0)
    b = proxy_spec({"code": 0.5, "prose": 0.5}, space, ProxyConfig(**TINY), bundle, 1)
    calls = []
    real = proxy_runs.train_proxy
    monkeypatch.setattr(
        proxy_runs, "train_proxy", lambda spec, *args: calls.append(spec["seed"]) or real(spec, *args)
    )
    res = run_proxies([a, b, a], str(path), str(tmp_path))
    assert sorted(calls) == [0, 1] and res[0] == res[2] and res[0]["val_loss"] != res[1]["val_loss"]


def test_at_width_grows_the_proxy_with_the_same_recipe():
    from hf_addons.data.mixture.proxy import ProxyConfig

    base = ProxyConfig(seq_len=64, batch_size=16, vocab=2048, warmup_ratio=0.1)
    big = base.at_width(264, num_layers=4)
    assert (big.seq_len, big.batch_size, big.vocab, big.warmup_ratio) == (64, 16, 2048, 0.1)
    assert (big.intermediate_size, big.num_layers) == (4 * 264, 4)
    assert big.learning_rate == pytest.approx(base.learning_rate * 128 / 264)
    assert big.num_parameters(2048) >= 5 * base.num_parameters(2048)  # the bench's validation proxy
    assert base.at_width(64, learning_rate=3e-3).learning_rate == 3e-3  # a given rate is kept as given


def test_kept_models_score_as_their_runs_and_spaced_blocks_span_the_set(tmp_path, monkeypatch):
    """``save_model`` keeps each proxy for re-scoring (a cached run without its model trains again); the kept
    model gives the run's own validation losses back."""
    from transformers import LlamaForCausalLM

    import hf_addons.data.mixture.proxy as proxy_runs
    from hf_addons.data.mixture.bundle import prepare, save_bundle, spaced_blocks
    from hf_addons.data.mixture.proxy import ProxyConfig, evaluate_proxy, model_dir, proxy_spec, run_proxies

    train, val = _domains()
    space, bundle, tok = prepare(train, val, tokens_per_run=2048, seq_len=32, eval_tokens=256)
    path = save_bundle(bundle, tmp_path)
    spec = proxy_spec({"code": 0.5, "prose": 0.5}, space, ProxyConfig(**TINY), bundle, 0)
    calls = []
    real = proxy_runs.train_proxy
    monkeypatch.setattr(proxy_runs, "train_proxy", lambda s, *a: calls.append(1) or real(s, *a))
    first = run_proxies([spec], str(path), str(tmp_path))[0]
    kept = run_proxies([spec], str(path), str(tmp_path), save_model=True)[0]
    again = run_proxies([spec], str(path), str(tmp_path), save_model=True)[0]
    assert len(calls) == 2 and again["cached"] and not first.get("cached")
    assert kept["val_loss"] == pytest.approx(first["val_loss"])  # seeded: the same run, now with its model
    model = LlamaForCausalLM.from_pretrained(model_dir(tmp_path, spec))
    blocks = bundle.proxy_val_blocks(ProxyConfig(**TINY).vocab, len(tok))
    assert evaluate_proxy(model, blocks, 8) == pytest.approx(kept["val_loss"])

    rows = np.arange(10)[:, None]
    assert spaced_blocks(rows, 4)[:, 0].tolist() == [0, 3, 6, 9]  # first to last, evenly
    assert spaced_blocks(rows, 10) is rows and spaced_blocks(rows, 99) is rows


def test_long_documents_are_drawn_piece_by_piece():
    """One document holding half of a source's tokens: whole, a proxy's partial share of that source either
    takes it or leaves it (whatever the seed picks); cut into pieces, every seed takes about its share of
    it. The pieces are the document, token for token, and change the data fingerprint."""
    from datasets import Dataset

    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.data.mixture.proxy import ProxyConfig, proxy_mixture, proxy_spec

    train, val = _domains()
    long_doc = " ".join(train["prose"]["text"][:40])
    prose = Dataset.from_dict({"text": [long_doc, *(t[:200] for t in train["prose"]["text"][40:105])]})
    sources = {"code": train["code"], "prose": prose}
    kw = dict(tokens_per_run=4096, seq_len=32, eval_tokens=256)
    space, whole, _ = prepare(sources, val, **kw)
    cut_space, cut, _ = prepare(sources, val, max_doc_tokens=128, **kw)

    assert cut_space.tokens == space.tokens  # the same tokens, in more units
    assert cut.fingerprint != whole.fingerprint  # no cached run on whole documents is read back
    pieces = [t for t in cut.train_texts["prose"] if t not in whole.train_texts["prose"]]
    assert max(cut.ids[p].size for p in pieces) <= 128 and len(pieces) >= 10
    assert np.array_equal(np.concatenate([cut.ids[p] for p in pieces]), whole.ids[long_doc])
    share_of_source = whole.ids[long_doc].size / space.tokens["prose"]
    assert 0.3 < share_of_source < 0.7

    def long_drawn(sp, bundle, units, seed):
        """Of the prose tokens a proxy at prose share 0.9 (0.62 epochs) draws: how many come from the long
        document, and how many there are."""
        spec = proxy_spec({"code": 0.1, "prose": 0.9}, sp, ProxyConfig(**TINY), bundle, seed)
        texts, prose_units = proxy_mixture(spec, bundle).dataset["text"][:], set(bundle.train_texts["prose"])
        drawn = [t for t in texts if t in prose_units]
        return sum(bundle.ids[t].size for t in drawn if t in units), sum(bundle.ids[t].size for t in drawn)

    as_whole = [long_drawn(space, whole, {long_doc}, s) for s in range(8)]
    as_pieces = [
        long / total for long, total in (long_drawn(cut_space, cut, set(pieces), s) for s in range(8))
    ]
    assert all(abs(f - share_of_source) < 0.15 for f in as_pieces), as_pieces
    # whole, it is drawn all or not at all, never its share ...
    long_size = whole.ids[long_doc].size
    assert {long for long, _ in as_whole} == {0, long_size}, as_whole  # ... and the seed decides which
    assert all(long / total > share_of_source + 0.2 for long, total in as_whole if long), as_whole

    with pytest.raises(ValueError, match="max_doc_tokens=16 is under one block"):
        prepare(sources, val, max_doc_tokens=16, **kw)


def test_stratify_reaches_every_proxy_and_the_fingerprint():
    """``prepare(stratify=True)``: every proxy's mixture is drawn spread over each source, and no run drawn
    at random is read back from the cache (another data fingerprint)."""
    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.data.mixture.proxy import ProxyConfig, proxy_mixture, proxy_spec

    train, val = _domains()
    kw = dict(tokens_per_run=4096, seq_len=32, eval_tokens=256)
    space, plain, _ = prepare(train, val, **kw)
    _, spread, _ = prepare(train, val, stratify=True, **kw)
    assert spread.fingerprint != plain.fingerprint and spread.stratify and not plain.stratify
    w, proxy = {"code": 0.5, "prose": 0.5}, ProxyConfig(**TINY)
    mixes = [proxy_mixture(proxy_spec(w, space, proxy, b, 0), b) for b in (plain, spread)]
    assert [m.stratify for m in mixes] == [False, True]
    assert mixes[0].dataset["text"][:] != mixes[1].dataset["text"][:]
    for m in mixes:
        assert m.report()["max_abs_error_pp"] < 2.0


def test_fingerprint_names_the_tokenizer_by_content_not_by_folder(tmp_path):
    """The default tokenizer loads from the converted model's folder once the model was converted, from a
    tokenizer-only folder before: cached runs must be found either way, and a tokenizer that maps text to
    other ids must not find them."""
    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.models import load_tokenizer

    train, val = _domains()
    kw = dict(tokens_per_run=4096, seq_len=32, eval_tokens=256)
    tok = load_tokenizer()
    for name in ("a", "b"):
        tok.save_pretrained(tmp_path / name)
    prints = [prepare(train, val, tokenizer=str(tmp_path / n), **kw)[1].fingerprint for n in ("a", "b")]
    assert prints[0] == prints[1] == prepare(train, val, **kw)[1].fingerprint

    other = load_tokenizer(str(tmp_path / "a"))
    other.add_tokens(["<an-added-token>"])
    assert prepare(train, val, tokenizer=other, **kw)[1].fingerprint != prints[0]


def _result_of(train, val, tmp_path, weights, objective, test=None, **prepare_kw):
    """A SearchResult recommending ``weights`` on the search's real data and cache, without the search's runs
    (what a check at scale reads of it)."""
    from hf_addons.data.mixture.bundle import prepare, save_bundle
    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.search import SearchResult
    from hf_addons.data.mixture.space import objective_on_test, parse_objective

    space, bundle, tok = prepare(
        train, val, tokens_per_run=4096, seq_len=32, eval_tokens=256, test=test, **prepare_kw
    )
    proxy = ProxyConfig(**TINY)
    objective = parse_objective(objective, list(val))
    return SearchResult(
        weights=weights,
        predicted_objective=float("nan"),
        objective=objective,
        test_objective=objective_on_test(objective, list(test)) if test else {},
        natural=space.natural,
        regressor="linear-log",
        cv_spearman={"linear-log": float("nan")},
        runs=[],
        oof_predictions=[],
        space=space,
        proxy=proxy,
        parameters=proxy.num_parameters(proxy.vocab_size(tok)),
        wall_seconds=0.0,
        bundle_path=str(save_bundle(bundle, tmp_path)),
        cache_dir=str(tmp_path),
    )


def test_check_at_scale_ranks_the_recommendation_on_larger_proxies(tmp_path, monkeypatch):
    """A prose-heavy recommendation for the prose loss, checked on a 2x wider proxy at 4x the tokens against
    natural and uniform: its prose loss is the lowest; a mixture over the epoch caps at that budget is named,
    not trained; a repeated check trains nothing."""
    import hf_addons.data.mixture.proxy as proxy_runs
    from hf_addons.data.mixture.scale_check import check_at_scale
    from hf_addons.data.mixture.search import SearchResult

    train, val = _domains()
    res = _result_of(train, val, tmp_path, {"code": 0.1, "prose": 0.9}, "prose", max_epochs={"prose": 0.56})
    big = res.proxy.at_width(16, 2)
    assert big.num_parameters(512) > res.parameters
    calls = []
    real = proxy_runs.train_proxy
    monkeypatch.setattr(proxy_runs, "train_proxy", lambda s, *a: calls.append(s["seed"]) or real(s, *a))
    too_much = {"all prose": {"code": 0.0, "prose": 1.0}}  # 16384 prose tokens: 0.59 epochs > the cap 0.56
    check = check_at_scale(res, big, tokens=16384, seeds=2, others=too_much)
    assert len(calls) == 6 and set(check.runs) == {"optimum", "natural", "uniform"}
    assert calls == [1000] * 3 + [1001] * 3  # seed by seed: an interrupted check has every mixture's first
    assert "all prose" in check.infeasible and "epochs" in check.infeasible["all prose"]
    # one domain's loss: that domain alone is the no-search answer, a baseline too; here over the cap
    assert check.baselines == ("natural", "uniform", "target") and "epochs" in check.infeasible["target"]
    for label, runs in check.runs.items():  # seeds 1000, 1001; the objective is each run's prose loss
        assert [r["spec"]["seed"] for r in runs] == [1000, 1001]
        assert check.scores[label] == [r["val_loss"]["prose"] for r in runs]
        assert runs[0]["parameters"] == check.parameters and runs[0]["spec"]["tokens"] == 16384
    summary = check.summary()
    best = min(("natural", "uniform"), key=lambda k: summary[k]["mean"])
    assert check.best_baseline == best
    assert check.margin == pytest.approx(summary[best]["mean"] - summary["optimum"]["mean"])
    # 0.9 of the data is prose: its prose loss is the lowest, on every seed, by more than the seeds' spread
    # (0.137 against 0.034 on Python 3.11's reference manual)
    assert check.margin > 0.05 and check.met
    assert all(d["seeds_lower"] == 2 for d in check.paired().values())
    assert check.met == (check.margin > check.max_spread)
    card = res.to_card(check)
    assert "Checked at" in card and "all prose" in card and f"{summary['optimum']['mean']:.4f}" in card

    again = check_at_scale(res, big, tokens=16384, seeds=2, others=too_much)
    assert len(calls) == 6 and again.scores == check.scores  # read back from the cache

    with pytest.raises(ValueError, match="recommendation cannot be trained at 18000 tokens.*epochs"):
        check_at_scale(res, big, tokens=18000)  # 0.9 x 18000 prose tokens: 0.58 epochs > 0.56
    with pytest.raises(ValueError, match="at least one baseline"):
        check_at_scale(res, big, tokens=16384, baselines=())
    with pytest.raises(ValueError, match=r"baselines \['best'\]"):
        check_at_scale(res, big, tokens=16384, baselines=("best",))
    with pytest.raises(ValueError, match=r"others \['natural'\]: these names"):
        check_at_scale(res, big, tokens=16384, others={"natural": {"code": 0.5, "prose": 0.5}})
    with pytest.raises(ValueError, match="no data bundle"):
        check_at_scale(SearchResult(**{**vars(res), "bundle_path": None}), big, tokens=16384)
    assert len(calls) == 6  # every error before any training


def test_check_at_scale_trains_on_the_objectives_weights_as_a_baseline(tmp_path):
    """A weighted objective's own weights are what a user trains on without a search: the check trains them
    beside natural and uniform; for the mean objective they are uniform and left out."""
    from hf_addons.data.mixture.scale_check import check_at_scale
    from hf_addons.data.mixture.search import SearchResult

    train, val = _domains()
    res = _result_of(train, val, tmp_path, {"code": 0.1, "prose": 0.9}, {"code": 1, "prose": 3})
    check = check_at_scale(res, res.proxy, tokens=4096, seeds=1)
    assert check.baselines == ("natural", "uniform", "target") and not check.infeasible
    assert check.runs["target"][0]["spec"]["weights"] == {"code": 0.25, "prose": 0.75}
    means = {k: np.mean(v) for k, v in check.scores.items()}
    assert check.margin == pytest.approx(min(means[k] for k in check.baselines) - means["optimum"])
    assert set(check.paired()) == {"natural", "uniform", "target"}
    assert check.same_as_recommended == []
    # a search that recommends the objective's own weights found nothing to add: the same runs, no margin
    same = _result_of(train, val, tmp_path, {"code": 0.25, "prose": 0.75}, {"code": 1, "prose": 3})
    tie = check_at_scale(same, same.proxy, tokens=4096, seeds=2)
    assert tie.same_as_recommended == ["target"] and tie.scores["target"] == tie.scores["optimum"]
    assert tie.margin <= 0 and not tie.met and tie.paired()["target"]["paired_t_one_sided_p"] is None
    assert "is the target mixture itself" in tie.to_card()
    mean = _result_of(train, val, tmp_path, {"code": 0.1, "prose": 0.9}, "mean")
    assert check_at_scale(mean, mean.proxy, tokens=4096, seeds=1).baselines == ("natural", "uniform")
    elsewhere = SearchResult(**{**vars(res), "objective": {"docs": 1.0}})  # a validation-only domain
    with pytest.raises(ValueError, match="weights no training source"):
        check_at_scale(elsewhere, res.proxy, tokens=4096, baselines=("natural", "target"))


def test_test_sets_are_scored_by_every_proxy_and_chosen_by_none(tmp_path, capsys):
    """Held-out test sets join the evaluation under their own names, after the validation sets; the objective
    never reads them; a check at scale scores its runs on them too. A prose-heavy recommendation for the prose
    loss is lowest on prose it never saw, by more than the seeds' spread."""
    from hf_addons.data.mixture.bundle import prepare
    from hf_addons.data.mixture.scale_check import check_at_scale
    from hf_addons.data.mixture.space import parse_objective

    train, val, test = _domains(test=True)
    kw = dict(tokens_per_run=4096, seq_len=32, eval_tokens=256)
    _, bundle, _ = prepare(train, val, test=test, **kw)
    assert list(bundle.val_blocks) == ["code", "prose", "code-test", "prose-test"]
    assert bundle.fingerprint != prepare(train, val, **kw)[1].fingerprint  # scored: another cache
    assert not np.array_equal(bundle.val_blocks["prose"], bundle.val_blocks["prose-test"])
    assert parse_objective("mean", list(val)) == {"code": 0.5, "prose": 0.5}  # not over the test sets

    res = _result_of(
        train, val, tmp_path, {"code": 0.1, "prose": 0.9}, "prose", test=test, max_epochs={"prose": 0.56}
    )
    assert res.test_objective == {"prose-test": 1.0}
    check = check_at_scale(
        res, res.proxy.at_width(16, 2), tokens=16384, seeds=2, baselines=("natural", "uniform")
    )
    held = check.test
    assert "train_runtime" not in capsys.readouterr().out  # no Trainer metrics dict per proxy on stdout
    for label, runs in check.runs.items():
        assert check.scores[label] == [r["val_loss"]["prose"] for r in runs]
        assert held.scores[label] == [r["val_loss"]["prose-test"] for r in runs]
    # prose the recommendation never trained on nor was chosen by: still the lowest, on every seed
    assert held.margin > 0.05 and held.met, held.summary()
    assert all(d["seeds_lower"] == 2 for d in held.paired().values())
    out = check.to_dict()
    assert out["test"]["margin"] == held.margin and out["test"]["met"] == held.met
    assert out["test"]["scores"] == held.summary() and "test" not in held.to_dict()
    assert (
        "held-out test sets" in check.to_card()
        and f"{held.summary()['optimum']['mean']:.4f}" in check.to_card()
    )


def test_test_sets_are_checked_before_training(tmp_path):
    from datasets import Dataset

    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.search import search_mixture

    train, val, test = _domains(test=True)
    kw = dict(tokens_per_run=1024, num_runs=5, proxy=ProxyConfig(**TINY), eval_tokens=256, cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"test set\(s\) \['math'\] name no validation domain"):
        search_mixture(train, val, test={**test, "math": test["code"]}, **kw)
    with pytest.raises(ValueError, match=r"weights domain\(s\) \['prose'\] without a test set"):
        search_mixture(train, val, test={"code": test["code"]}, **kw)  # the mean weights prose too
    clash = {**val, "code-test": val["code"]}
    with pytest.raises(ValueError, match=r"validation set\(s\) \['code-test'\] have the names"):
        search_mixture(train, clash, test=test, objective="code", **kw)
    short = {**test, "code": Dataset.from_dict({"text": ["a few words"]})}
    with pytest.raises(ValueError, match=r"validation or test set\(s\) \['code-test'\] have fewer than"):
        search_mixture(train, val, test=short, **kw)
    assert not list(tmp_path.glob("*.json"))  # nothing was trained
