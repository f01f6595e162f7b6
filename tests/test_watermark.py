"""Watermark: config, hashing, processor, detector, transformers interop, metric and CLI (tiny models)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessorList

from hf_addons.watermark import (
    MissingKeyError,
    WatermarkConfig,
    WatermarkDetector,
    WatermarkLogitsProcessor,
    generate,
)
from hf_addons.watermark.hashing import GreenHasher, to_int32

METRIC_DIR = (
    Path(__file__).resolve().parents[1] / "hf_addons" / "watermark" / "metric" / "watermark_detection"
)
SCHEMES = [("lefthash", 1), ("lefthash", 3), ("minhash", 4), ("selfhash", 4), ("unigram", 1)]


@pytest.fixture(scope="module")
def small_lm():
    """A tiny llama with a 512-token vocabulary: generation tests at the ids level, fast."""
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm("llama", vocab_size=512, seed=1)
    model.generation_config.pad_token_id = 0
    return model


def _left_padded_prompts(batch=4, vocab=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [3, 7, 5, 9][:batch]
    width = max(lengths)
    ids = torch.zeros(batch, width, dtype=torch.long)
    mask = torch.zeros(batch, width, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, width - n :] = torch.randint(1, vocab, (n,), generator=g)
        mask[i, width - n :] = 1
    return ids, mask


# --- config ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gamma=0.0), "gamma"),
        (dict(gamma=1.5), "gamma"),
        (dict(delta=-1), "delta"),
        (dict(seeding_scheme="rot13"), "seeding_scheme"),
        (dict(context_width=0), "context_width"),
        (dict(interop="transformers", seeding_scheme="lefthash"), "vocab_size"),
        (dict(interop="transformers", vocab_size=100, seeding_scheme="minhash"), "lefthash"),
        (dict(hashing_key=""), "empty"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WatermarkConfig(**kwargs)


def test_config_roundtrip_keeps_key_secret(tmp_path):
    cfg = WatermarkConfig(hashing_key=987654321, seeding_scheme="selfhash", context_width=4, gamma=0.3)
    cfg.save_pretrained(tmp_path / "pub")
    assert "987654321" not in (tmp_path / "pub" / "watermark_config.json").read_text()
    loaded = WatermarkConfig.from_pretrained(tmp_path / "pub")
    assert loaded.hashing_key is None and loaded.seeding_scheme == "selfhash" and loaded.gamma == 0.3
    with pytest.raises(MissingKeyError, match="hashing_key"):
        WatermarkDetector(loaded)
    with pytest.raises(MissingKeyError):
        WatermarkLogitsProcessor(loaded)
    assert WatermarkConfig.from_pretrained(tmp_path / "pub", hashing_key=987654321) == cfg
    cfg.save_pretrained(tmp_path / "priv", include_key=True)
    assert WatermarkConfig.from_pretrained(tmp_path / "priv") == cfg
    # what a push uploads: config + card, no key unless asked
    plan = cfg.push_to_hub("me/wm", dry_run=True)
    assert set(plan) == {"watermark_config.json", "README.md"}
    assert all(b"987654321" not in v for v in plan.values())
    assert b"selfhash" in plan["README.md"]
    assert b"987654321" in cfg.push_to_hub("me/wm", dry_run=True, include_key=True)["watermark_config.json"]


def test_string_keys_and_lazy_public_names():
    import hf_addons

    assert hf_addons.WatermarkConfig is WatermarkConfig
    assert hf_addons.WatermarkDetector is WatermarkDetector
    a, b = WatermarkConfig(hashing_key="passphrase one"), WatermarkConfig(hashing_key="passphrase two")
    ids = torch.randint(0, 1000, (1, 1))
    ga = GreenHasher(a).green_vocab(ids, 1000)
    gb = GreenHasher(b).green_vocab(ids, 1000)
    assert (ga != gb).any()


# --- hashing ---------------------------------------------------------------------------------------------------
def test_int32_product_wraps_like_mod_2_32():
    x = torch.randint(0, 2**32, (50_000,), dtype=torch.int64)
    y = torch.randint(0, 2**32, (50_000,), dtype=torch.int64) | 1
    # the exact low 32 bits of x*y, split so the int64 products cannot overflow
    ref = to_int32(((x * (y >> 16)) % 2**32 * 2**16 + x * (y & 0xFFFF)) % 2**32)
    assert torch.equal(to_int32(x) * to_int32(y), ref)


@pytest.mark.parametrize("scheme,width", SCHEMES)
def test_green_lists_have_gamma_fraction_and_vary_with_context(scheme, width):
    cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, gamma=0.25, hashing_key=3)
    hasher = GreenHasher(cfg)
    ctx = torch.randint(0, 50_000, (64, cfg.context_needed))
    green = hasher.green_vocab(ctx, 50_000)
    assert green.shape == (64, 50_000)
    assert abs(green.float().mean().item() - 0.25) < 0.005
    overlap = (green[0] & green[1]).float().mean().item()
    if scheme == "unigram":
        assert torch.equal(green[0], green[1])
    elif scheme == "selfhash":  # tokens that hold the min hash keep their own list: partial overlap only
        assert 0.25**2 - 0.01 < overlap < 0.2
    else:  # unrelated lists: the overlap is gamma^2, not gamma
        assert abs(overlap - 0.25**2) < 0.02


@pytest.mark.parametrize("scheme,width", SCHEMES)
def test_processor_and_detector_agree_on_every_token(scheme, width):
    cfg = WatermarkConfig(
        seeding_scheme=scheme, context_width=width, hashing_key=11, ignore_repeated_ngrams=False
    )
    proc = WatermarkLogitsProcessor(cfg)
    det = WatermarkDetector(cfg)
    ids = torch.randint(0, 700, (3, 30))
    scored = det.score_ids(ids)
    need = cfg.context_needed
    for t in range(
        need, 30
    ):  # the processor's list at each prefix must contain exactly the detector's greens
        mask = proc.green_mask(ids[:, :t], 700)
        expect = mask.gather(1, ids[:, t : t + 1]).squeeze(1)
        assert torch.equal(scored["green"][:, t], expect)
    assert scored["scored"][:, need:].all() and not scored["scored"][:, :need].any()


def test_processor_adds_delta_to_green_only_any_dtype_and_row_independent():
    cfg = WatermarkConfig(delta=1.5, hashing_key=5)
    proc = WatermarkLogitsProcessor(cfg)
    ids = torch.randint(0, 300, (5, 6))
    scores = torch.randn(5, 300)
    out = proc(ids, scores.clone())  # the bias is added in place, like generate() allows
    green = proc.green_mask(ids, 300)
    torch.testing.assert_close(out - scores, green.float() * 1.5)
    assert torch.equal(out[2:3], proc(ids[2:3], scores[2:3].clone()))  # batch rows are independent
    half = proc(ids, scores.bfloat16())
    assert half.dtype == torch.bfloat16
    assert torch.equal(half, scores.bfloat16().add(green, alpha=1.5))


@pytest.mark.parametrize("scheme,width", [*SCHEMES, ("selfhash", 1)])
def test_blocked_in_place_bias_equals_the_green_mask(scheme, width, monkeypatch):
    """The eager fast path (row blocks, float buffers, in place) gives exactly scores + delta * green_vocab."""
    import hf_addons.watermark.processor as processor_module

    # blocks of 3 rows over 7 rows: full blocks, a partial last block, reused buffers across calls
    monkeypatch.setattr(processor_module, "CPU_BLOCK_ELEMENTS", 3 * 1000)
    proc = WatermarkLogitsProcessor(
        WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=23, delta=2.0), fused=False
    )
    for step in range(3):
        ids = torch.randint(0, 1000, (7, 5 + step))
        for dtype in (torch.float32, torch.bfloat16):
            scores = torch.randn(7, 1000).to(dtype)
            expect = scores.add(proc.green_mask(ids, 1000), alpha=2.0)
            out = proc(ids, scores)
            assert out is scores and torch.equal(out, expect)


def test_processor_skips_steps_without_enough_context():
    proc = WatermarkLogitsProcessor(
        WatermarkConfig(seeding_scheme="lefthash", context_width=4, hashing_key=5)
    )
    scores = torch.randn(2, 50)
    with pytest.warns(UserWarning, match="not watermarked"):
        assert proc(torch.ones(2, 2, dtype=torch.long), scores) is scores


# --- generation + detection ------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme,width", SCHEMES)
def test_sampled_generation_is_detected_and_plain_is_not(small_lm, scheme, width):
    cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, delta=4.0, hashing_key=77)
    ids, mask = _left_padded_prompts()
    kw = dict(attention_mask=mask, max_new_tokens=40, do_sample=True, pad_token_id=0)
    torch.manual_seed(0)
    wm = small_lm.generate(ids, logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(cfg)]), **kw)
    plain = small_lm.generate(ids, **kw)
    det = WatermarkDetector(cfg)
    z_wm = det.score_ids(wm[:, ids.shape[1] :])["z"]
    z_plain = det.score_ids(plain[:, ids.shape[1] :])["z"]
    assert (z_wm > 4).all(), z_wm
    assert (z_plain < 4).all(), z_plain


@pytest.mark.parametrize("mode", [dict(do_sample=False), dict(do_sample=False, num_beams=3)])
def test_greedy_and_beam_search_are_watermarked(small_lm, mode):
    cfg = WatermarkConfig(seeding_scheme="selfhash", context_width=4, delta=4.0, hashing_key=8)
    ids, mask = _left_padded_prompts()
    out = small_lm.generate(
        ids,
        attention_mask=mask,
        logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(cfg)]),
        max_new_tokens=30,
        pad_token_id=0,
        **mode,
    )
    # greedy decoding of a random tiny model loops, so count repeats here; the green share says it all
    results = WatermarkDetector(cfg, ignore_repeated_ngrams=False).detect_ids(out[:, ids.shape[1] :])
    assert all(r.prediction and r.green_fraction > 0.8 for r in results), [r.z_score for r in results]


def test_chat_generation_text_roundtrip(tiny_llama, tokenizer):
    cfg = WatermarkConfig(seeding_scheme="lefthash", delta=6.0, hashing_key="chat key")
    out = generate(
        tiny_llama, tokenizer, ["Hi!", "Tell me a story"], cfg, max_new_tokens=30, chat=True, seed=0
    )
    assert len(out["texts"]) == 2 and all(out["texts"])
    det = WatermarkDetector(cfg, tokenizer=tokenizer)
    from_ids = det.detect_ids(out["token_ids"])
    from_text = det.detect(out["texts"])
    assert all(r.prediction for r in from_ids)
    assert all(r.prediction for r in from_text), [r.z_score for r in from_text]
    other_key = WatermarkDetector(WatermarkConfig(delta=6.0, hashing_key="wrong"), tokenizer=tokenizer)
    assert not any(r.prediction for r in other_key.detect(out["texts"]))


# --- detector behaviour ----------------------------------------------------------------------------------------
def test_per_token_output_for_highlighting(tokenizer):
    det = WatermarkDetector(WatermarkConfig(hashing_key=1), tokenizer=tokenizer)
    text = "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun."
    r = det.detect(text)
    assert len(r.tokens) == len(r.offsets) == len(r.green_mask) == len(r.scored_mask) == len(r.token_ids)
    assert [text[s:e] for s, e in r.offsets] == r.tokens
    assert "".join(r.tokens) == text
    assert r.num_tokens_scored == sum(r.scored_mask) == len(r.tokens) - 1  # the first token has no context
    assert r.num_green_tokens == sum(g and s for g, s in zip(r.green_mask, r.scored_mask))
    labels = [lab for _, lab in r.highlights()]
    assert labels[0] is None and set(labels[1:]) <= {"green", "red"}
    d = r.to_dict()
    json.dumps(d)
    assert "tokens" not in r.to_dict(per_token=False)


def test_not_enough_tokens_is_explicit_never_z0(tokenizer):
    det = WatermarkDetector(
        WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=1), tokenizer
    )
    for text in ["", "Hi there"]:
        r = det.detect(text)
        assert r.prediction is None and math.isnan(r.z_score) and "not enough tokens to score" in r.reason
    ok = det.detect("A long enough sentence has plenty of tokens to be scored here.")
    assert ok.prediction is not None and ok.reason is None and not math.isnan(ok.z_score)
    strict = WatermarkDetector(WatermarkConfig(hashing_key=1), tokenizer, min_tokens=50)
    assert strict.detect("Too short for fifty tokens.").prediction is None


def test_bad_inputs_raise_clear_errors(tokenizer):
    with pytest.raises(ValueError, match="unknown tokenizer"):
        WatermarkDetector(WatermarkConfig(), tokenizer="/no/such/tokenizer")
    with pytest.raises(ValueError, match="mismatched vocab size"):
        WatermarkDetector(WatermarkConfig(vocab_size=1000), tokenizer=tokenizer)
    det = WatermarkDetector(WatermarkConfig(vocab_size=1000))
    with pytest.raises(ValueError, match="mismatched vocab size"):
        det.score_ids(torch.tensor([[1, 2, 5000]]))
    with pytest.raises(ValueError, match=">= 0"):
        det.score_ids(torch.tensor([[1, -2, 5]]))
    with pytest.raises(ValueError, match="needs a tokenizer"):
        det.detect("some text")
    with pytest.raises(TypeError):
        WatermarkDetector({"gamma": 0.25})


def test_repeated_ngrams_are_counted_once():
    loop = torch.tensor([[5, 6] * 50])
    cfg = WatermarkConfig(hashing_key=2)
    assert WatermarkDetector(cfg).score_ids(loop)["num_scored"].item() == 2
    assert WatermarkDetector(cfg, ignore_repeated_ngrams=False).score_ids(loop)["num_scored"].item() == 99
    # a repeated token in a different context is a different n-gram and still counts
    assert WatermarkDetector(cfg).score_ids(torch.tensor([[5, 6, 7, 6]]))["num_scored"].item() == 3


def test_ignored_tokens_and_padding_are_not_scored():
    cfg = WatermarkConfig(hashing_key=2, ignore_token_ids=[9])
    det = WatermarkDetector(cfg)
    out = det.detect_ids([[1, 2, 9, 3, 4], [1, 2]])
    assert out[0].num_tokens_scored == 3 and out[0].scored_mask == [False, True, False, True, True]
    assert out[1].num_tokens_scored == 1 and len(out[1].green_mask) == 2
    # left padding (generate's layout) with an attention mask: same scores, per-token lists hold real tokens
    left = det.detect_ids(torch.tensor([[0, 0, 0, 1, 2]]), attention_mask=torch.tensor([[0, 0, 0, 1, 1]]))[0]
    assert left.token_ids == [1, 2] and left.scored_mask == [False, True]
    assert left.green_mask == out[1].green_mask and left.z_score == out[1].z_score


def test_windowed_detection_finds_a_pasted_span():
    cfg = WatermarkConfig(hashing_key=21)
    proc, det = WatermarkLogitsProcessor(cfg), WatermarkDetector(cfg)
    g = torch.Generator().manual_seed(0)
    human = torch.randint(0, 5000, (1, 600), generator=g)
    seq = human[:, :300].clone()
    for _ in range(150):  # a fully watermarked span: each token drawn from the green list of its context
        green = proc.green_mask(seq, 5000)[0].nonzero().squeeze(1)
        seq = torch.cat([seq, green[torch.randint(len(green), (1,), generator=g)].view(1, 1)], dim=1)
    text = torch.cat([seq, human[:, 300:450]], dim=1)  # 25% watermarked inside 600 tokens
    r = det.detect_ids(text, windowed=True)[0]
    w = r.window
    assert w["z_score"] > r.z_score and w["prediction"]
    overlap = min(w["end"], 450) - max(w["start"], 300)
    assert overlap >= 0.8 * 150 and (w["end"] - w["start"]) <= 1.3 * 150
    human_r = det.detect_ids(human, windowed=True)[0]
    assert not human_r.window["prediction"] and human_r.window["p_value"] > 1e-4


# --- transformers interop --------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme,width", [("lefthash", 1), ("selfhash", 2)])
def test_interop_matches_transformers_detector(tiny_llama, scheme, width):
    from transformers import WatermarkDetector as HFDetector
    from transformers import WatermarkingConfig

    wcfg = WatermarkingConfig(bias=4.0, seeding_scheme=scheme, context_width=width, hashing_key=15485863)
    torch.manual_seed(0)
    prompt = torch.randint(100, 40_000, (2, 5))
    out = tiny_llama.generate(
        prompt, watermarking_config=wcfg, max_new_tokens=7, do_sample=True, pad_token_id=0
    )
    random_ids = torch.randint(100, 40_000, (2, 20))
    random_ids[:, 10:14] = random_ids[:, :4]  # a repeated n-gram
    vocab = tiny_llama.config.vocab_size
    for ids, repeated in ((out[:, 5:], False), (random_ids, True)):
        theirs = HFDetector(tiny_llama.config, "cpu", wcfg, ignore_repeated_ngrams=repeated)(
            ids, return_dict=True
        )
        cfg = WatermarkConfig.from_transformers(wcfg, vocab_size=vocab, ignore_repeated_ngrams=repeated)
        ours = WatermarkDetector(cfg).score_ids(ids)
        assert ours["num_scored"].tolist() == theirs.num_tokens_scored.tolist()
        assert ours["num_green"].tolist() == theirs.num_green_tokens.tolist()
        torch.testing.assert_close(ours["z"], torch.as_tensor(theirs.z_score, dtype=torch.double))
    assert (WatermarkDetector(cfg).score_ids(out[:, 5:])["num_green"] >= 5).all()  # bias 4 on a flat model


def test_interop_processor_is_transformers_own(tiny_llama):
    from transformers import WatermarkingConfig

    wcfg = WatermarkingConfig(bias=2.0, seeding_scheme="lefthash")
    cfg = WatermarkConfig.from_transformers(wcfg, vocab_size=tiny_llama.config.vocab_size)
    prompt = torch.randint(100, 40_000, (2, 4))
    theirs = tiny_llama.generate(
        prompt, watermarking_config=wcfg, max_new_tokens=6, do_sample=False, pad_token_id=0
    )
    ours = tiny_llama.generate(
        prompt,
        logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(cfg)]),
        max_new_tokens=6,
        do_sample=False,
        pad_token_id=0,
    )
    assert torch.equal(theirs, ours)
    assert cfg.to_transformers().to_dict()["greenlist_ratio"] == wcfg.greenlist_ratio


# --- evaluate metric and CLI -----------------------------------------------------------------------------------
def test_evaluate_metric_module(tiny_llama, tokenizer):
    import evaluate

    cfg = WatermarkConfig(delta=8.0, hashing_key=123)
    det_texts = generate(tiny_llama, tokenizer, ["Once", "Today"], cfg, max_new_tokens=30, seed=1)["texts"]
    human = ["The committee met on Tuesday to discuss next year's budget and the new library opening hours."]
    metric = evaluate.load(str(METRIC_DIR))
    out = metric.compute(predictions=det_texts + human, references=[1, 1, 0], hashing_key=123)
    assert out["tpr"] == 1.0 and out["fpr"] == 0.0 and len(out["z_score"]) == 3
    metric.add_batch(predictions=det_texts)
    metric.add_batch(predictions=human)
    streamed = metric.compute(config=cfg.to_dict(include_key=True))
    assert streamed["prediction"] == [1, 1, 0] and "tpr" not in streamed
    with pytest.raises(MissingKeyError):
        metric.compute(predictions=human)


def test_cli_generate_and_detect(tmp_path, tokenizer, capsys):
    from hf_addons.cli import main
    from hf_addons.testing import tiny_causal_lm

    model_dir = tmp_path / "tiny"
    tiny_causal_lm("llama", tokenizer=tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "gen.jsonl"
    rc = main(
        [
            "watermark",
            "generate",
            "--prompt",
            "Hello",
            "--model",
            str(model_dir),
            "--max-new-tokens",
            "30",
            "--delta",
            "8",
            "--key",
            "4242",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert row["prompt"] == "Hello" and row["watermark"]["hashing_key"] is None and row["text"]
    rc = main(
        ["watermark", "detect", str(out), "--tokenizer", str(model_dir), "--key", "4242", "--per-token"]
    )
    assert rc == 0
    det = json.loads(capsys.readouterr().out.splitlines()[0])
    assert det["prediction"] is True and det["tokens"]
    cfg_dir = tmp_path / "cfg"
    WatermarkConfig(hashing_key=4242).save_pretrained(cfg_dir)
    assert main(["watermark", "detect", str(out), "--config", str(cfg_dir)]) == 2  # no key: clean error
    assert "hashing_key" in capsys.readouterr().err
