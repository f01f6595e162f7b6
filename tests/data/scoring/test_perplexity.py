"""Perplexity scoring, its engines (batching, fused decoder, head) and filter (``hf_addons.data.scoring``)."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch
from data.helpers import TEXTS


def naive_ppl(model, tok, text):
    ids = torch.tensor([[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        return math.exp(model(ids, labels=ids).loss.item())


# -- perplexity -----------------------------------------------------------------------------------------
def test_batched_perplexity_matches_per_document_loop(tiny_lm, tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    scorer = PerplexityScorer(tiny_lm, tokenizer, tokens_per_batch=64)  # several batches, mixed lengths
    res = scorer.score(TEXTS)
    expected = [naive_ppl(tiny_lm, tokenizer, t) for t in TEXTS]
    np.testing.assert_allclose(res["perplexity"], expected, rtol=1e-4)
    lens = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS]
    assert res["tokens"].tolist() == lens  # BOS predicts the first token, so every token is scored
    np.testing.assert_allclose(res["logprob"], -np.log(expected), rtol=1e-4)


def test_sliding_windows_score_every_token_once_with_context(tiny_llama, tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    text = " ".join(f"word{i % 37}" for i in range(90))
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    window, stride = 40, 16
    res = PerplexityScorer(tiny_llama, tokenizer, window=window, stride=stride).score([text])
    assert res["tokens"][0] == len(ids) - 1
    # reference: each target predicted from the window that first covers it
    total, scored_to, begin = 0.0, 1, 0
    while True:
        end = min(begin + window, len(ids))
        seg = torch.tensor([ids[begin:end]])
        with torch.no_grad():
            lp = tiny_llama(seg).logits[0, :-1].log_softmax(-1)
        tgt = seg[0, 1:]
        per_tok = lp.gather(-1, tgt[:, None])[:, 0]
        total += per_tok[scored_to - begin - 1 :].sum().item()
        scored_to = end
        if end == len(ids):
            break
        begin += stride
    assert res["logprob"][0] == pytest.approx(total / (len(ids) - 1), rel=1e-5)


def test_document_longer_than_context(tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm("gpt2", tokenizer=tokenizer, n_positions=128)
    text = "lorem ipsum dolor sit amet " * 80  # > 128 tokens: must slide, not crash
    res = PerplexityScorer(model, tokenizer).score([text])
    assert res["tokens"][0] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert np.isfinite(res["perplexity"][0])
    capped = PerplexityScorer(model, tokenizer, max_tokens=50).score([text])
    assert capped["tokens"][0] == 50


def test_bad_input_empty_none_and_non_text(tiny_llama, tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    step = PerplexityScorer(tiny_llama, tokenizer)
    out = step({"text": ["hello there", "", None], "id": [1, 2, 3]})
    assert out["id"] == [1, 2, 3]
    assert out["perplexity_error"] == ["", "empty", "empty"]
    assert out["perplexity_tokens"][1:] == [0, 0]
    assert math.isfinite(out["perplexity"][0]) and all(math.isnan(x) for x in out["perplexity"][1:])
    with pytest.raises(TypeError, match="'id' must hold text"):
        PerplexityScorer(tiny_llama, tokenizer, text_column="id")({"id": [1, 2]})
    with pytest.raises(KeyError, match="missing column"):
        step({"body": ["x"]})
    with pytest.raises(ValueError, match="stride"):
        PerplexityScorer(tiny_llama, tokenizer, window=8, stride=8)
    again = pickle.loads(pickle.dumps(step))  # workers get the config, not the loaded model
    assert again._lm is None


def test_bf16_cpu_path_close_to_fp32(tiny_llama, tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm("llama", tokenizer=tokenizer)  # its own copy: the bf16 cast is in place
    fp32 = PerplexityScorer(tiny_llama, tokenizer).score(TEXTS)["perplexity"]
    bf16 = PerplexityScorer(model, tokenizer, dtype="bf16").score(TEXTS)["perplexity"]
    np.testing.assert_allclose(bf16, fp32, rtol=0.05)


def test_head_on_scored_rows_matches_full_logits(tiny_lm, tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    fast = PerplexityScorer(tiny_lm, tokenizer, window=16, stride=8, tokens_per_batch=48)
    res = fast.score(TEXTS)
    assert fast._head  # llama and gpt2 both pass the lm_head(decoder) check
    full = PerplexityScorer(tiny_lm, tokenizer, window=16, stride=8, tokens_per_batch=48)
    full._head = ()  # force the full-logits path
    ref = full.score(TEXTS)
    np.testing.assert_allclose(res["logprob"], ref["logprob"], rtol=1e-5)
    assert res["tokens"].tolist() == ref["tokens"].tolist()


def test_fused_llama_decoder_matches_plain_model(tiny_llama, tokenizer):
    """The CPU fast path (compiled per-layer function, no attention mask, reused head buffer) scores exactly
    what the plain eager forward scores: fp32, mixed lengths, batch 1 and several batches, sliding windows."""
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    texts = TEXTS + [" ".join(f"w{i % 13}" for i in range(70))]  # the last one slides (window 32)
    kw = dict(window=32, stride=12, tokens_per_batch=64)
    fast = PerplexityScorer(tiny_llama, tokenizer, fused=True, **kw)
    got = fast.score(texts)
    assert fast.fast_path.startswith("fused Llama decoder (compiled"), fast.fast_path
    plain = PerplexityScorer(tiny_llama, tokenizer, fused=False, **kw)
    want = plain.score(texts)
    assert plain.fast_path == "off (fused=False)"
    np.testing.assert_allclose(got["logprob"], want["logprob"], rtol=1e-5)
    assert got["tokens"].tolist() == want["tokens"].tolist()
    one = PerplexityScorer(tiny_llama, tokenizer, fused=True, **kw).score(TEXTS[2:3])  # batch of one
    np.testing.assert_allclose(one["logprob"], want["logprob"][2:3], rtol=1e-5)


def test_fused_bf16_packed_decoder_matches_eager_and_follows_weight_updates(tokenizer):
    """bf16 is the CPU default: the fused path (q|k|v and gate|up fused, oneDNN-packed weights where this torch
    has them, no padding outside attention) scores what the eager bf16 forward scores, and its packed copy of
    the weights is rebuilt when the model changes in place (an optimizer step) or a parameter is replaced."""
    import torch

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm("llama", tokenizer=tokenizer).to(torch.bfloat16)
    texts = TEXTS + ["short", " ".join(f"w{i % 7}" for i in range(40))]  # mixed lengths: padded rows
    kw = dict(dtype="bf16", tokens_per_batch=64)
    fast, plain = (
        PerplexityScorer(model, tokenizer, fused=True, **kw),
        PerplexityScorer(model, tokenizer, **kw),
    )
    plain.fast = False

    def check() -> np.ndarray:
        got, want = fast.score(texts), plain.score(texts)
        np.testing.assert_allclose(got["logprob"], want["logprob"], atol=5e-3)  # bf16 rounding: ~1e-3
        assert got["tokens"].tolist() == want["tokens"].tolist()
        return got["logprob"]

    before = check()
    assert fast.fast_path.startswith("fused Llama decoder (compiled"), fast.fast_path
    with torch.no_grad():  # an in-place update, as an optimizer makes
        model.model.layers[-1].mlp.down_proj.weight.normal_(
            0.0, 1.0, generator=torch.Generator().manual_seed(0)
        )
    after = check()
    assert np.abs(after - before).max() > 1e-2  # the change is visible, so the check above is not vacuous
    mlp = model.model.layers[-1].mlp
    mlp.up_proj.weight = torch.nn.Parameter(mlp.up_proj.weight.detach() * -4.0)  # a replaced parameter
    replaced = check()
    assert np.abs(replaced - after).max() > 1e-2


def test_default_fast_path_is_built_only_after_eager_scoring_paid_for_it(tiny_llama, tokenizer, monkeypatch):
    """fused="auto" (the default) is rent-or-buy on CPU: a short job stays eager and never waits for a compile;
    once this scorer has spent FAST_PATH_AFTER_S scoring, it switches to the fused path (same scores)."""
    from hf_addons.data.scoring import perplexity
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    with pytest.raises(ValueError, match="fused must be True, False or 'auto'"):
        PerplexityScorer(tiny_llama, tokenizer, fused="yes")
    with pytest.warns(DeprecationWarning, match="fast=.* is deprecated"):
        assert PerplexityScorer(tiny_llama, tokenizer, fast=None).fused == "auto"
    monkeypatch.setattr(perplexity, "FAST_PATH_AFTER_S", 1e-9)  # any eager call pays for it
    step = PerplexityScorer(tiny_llama, tokenizer)
    first = step.score(TEXTS)
    assert step.fast_path.startswith("eager for now (fused='auto'"), step.fast_path
    second = step.score(TEXTS)
    assert step.fast_path.startswith("fused Llama decoder (compiled"), step.fast_path
    np.testing.assert_allclose(second["logprob"], first["logprob"], rtol=1e-5)
    monkeypatch.setattr(perplexity, "FAST_PATH_AFTER_S", 1e9)
    short = PerplexityScorer(tiny_llama, tokenizer)
    short.score(TEXTS)
    short.score(TEXTS)
    assert short.fast_path.startswith("eager for now"), short.fast_path


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
def test_fused_decoder_covers_qwen_biases_and_query_key_norms(tokenizer, family):
    """Qwen2 is Llama with q/k/v biases, Qwen3 Llama with an RMSNorm of every query and key head: the fused
    path applies them (non-zero biases and non-unit norm weights here, as trained ones are) and scores what
    the model's own forward scores."""
    import torch

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm(family, tokenizer=tokenizer)
    with torch.no_grad():
        for layer in model.model.layers:
            a = layer.self_attn
            for p in [a.q_norm.weight, a.k_norm.weight] if family == "qwen3" else []:
                p.uniform_(0.5, 2.0)
            for p in [a.q_proj.bias, a.k_proj.bias, a.v_proj.bias] if family == "qwen2" else []:
                p.normal_(0.0, 0.5)
    kw = dict(window=32, stride=12, tokens_per_batch=64)
    fast = PerplexityScorer(model, tokenizer, fused=True, **kw)
    got = fast.score(TEXTS)
    assert fast.fast_path.startswith("fused Llama decoder (compiled"), fast.fast_path
    want = PerplexityScorer(model, tokenizer, fused=False, **kw).score(TEXTS)
    np.testing.assert_allclose(got["logprob"], want["logprob"], rtol=1e-5)


def test_fast_path_falls_back_when_the_model_is_not_plain_llama(tiny_gpt2, tokenizer):
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    from hf_addons.data.scoring.perplexity import PerplexityScorer
    from hf_addons.testing import tiny_causal_lm

    gpt2 = PerplexityScorer(tiny_gpt2, tokenizer, fused=True)
    gpt2.score(TEXTS[:2])
    assert gpt2.fast_path.startswith("off (") and "not a Llama-style decoder" in gpt2.fast_path

    class OnePlusNorm(LlamaRMSNorm):  # Gemma-style (1 + w) scaling: same module names, different numbers
        def forward(self, x):
            return super().forward(x) + super().forward(x) / self.weight

    odd = tiny_causal_lm("llama", tokenizer=tokenizer)
    norm = odd.model.layers[1].post_attention_layernorm
    odd.model.layers[1].post_attention_layernorm = OnePlusNorm(norm.weight.shape[0], norm.variance_epsilon)
    odd.eval()
    step = PerplexityScorer(odd, tokenizer, fused=True)
    got = step.score(TEXTS)
    assert "differs from the model on a probe" in step.fast_path
    want = PerplexityScorer(odd, tokenizer, fused=False).score(TEXTS)
    np.testing.assert_allclose(got["logprob"], want["logprob"], rtol=1e-6)


def test_line_unit_is_ccnet_token_weighted_mean_of_lines(tiny_llama, tokenizer):
    from hf_addons.data.scoring.perplexity import PerplexityScorer

    lines = ["Home | About | Contact", "The cell divides by mitosis.", "Share this"]
    doc = "\n".join(lines[:2]) + "\n\n  \n" + lines[2] + "\n"  # blank lines are skipped
    alone = PerplexityScorer(tiny_llama, tokenizer).score(lines)
    res = PerplexityScorer(tiny_llama, tokenizer, unit="line").score([doc, "", lines[1]])
    want = (alone["logprob"] * alone["tokens"]).sum() / alone["tokens"].sum()
    assert res["tokens"].tolist() == [alone["tokens"].sum(), 0, alone["tokens"][1]]
    assert res["logprob"][0] == pytest.approx(want, rel=1e-5)
    assert res["logprob"][2] == pytest.approx(alone["logprob"][1], rel=1e-5)  # one line: same as document
    # max_tokens takes lines in order until the document's budget is spent
    budget = int(alone["tokens"][0]) + 2
    capped = PerplexityScorer(tiny_llama, tokenizer, unit="line", max_tokens=budget).score([doc])
    assert capped["tokens"][0] == budget
    with pytest.raises(ValueError, match="unit"):
        PerplexityScorer(unit="sentence")


def test_cpu_default_dtype_follows_native_bf16(tiny_llama, tokenizer):
    from hf_addons.data.scoring.lm import load_lm, resolve_device_dtype
    from hf_addons.hardware import cpu_has_fast_bf16

    want = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    assert resolve_device_dtype("cpu", None) == ("cpu", want)
    assert resolve_device_dtype("cpu", "fp32")[1] == torch.float32
    model, _ = load_lm(tiny_llama, tokenizer, "cpu", None)  # a model object keeps its dtype: no silent cast
    assert model.dtype == torch.float32


def test_percentile_buckets_are_computed_over_the_whole_dataset():
    from datasets import Dataset

    from hf_addons.data.scoring.perplexity import PerplexityFilter, perplexity_cutoffs

    rng = np.random.default_rng(0)
    values = rng.permutation(np.arange(1, 31, dtype=float)).tolist() + [float("nan")]
    ds = Dataset.from_dict({"perplexity": values})
    filt = PerplexityFilter.from_dataset(ds, keep=("head",))
    assert filt.cutoffs == pytest.approx(perplexity_cutoffs([v for v in values if v == v]))
    out = ds.map(filt, batched=True, batch_size=4)  # small batches must not change the buckets
    buckets = out["perplexity_bucket"]
    assert [buckets.count(b) for b in ("head", "middle", "tail", "")] == [10, 10, 10, 1]
    assert sum(out["perplexity_keep"]) == 10
    assert set(out["perplexity_reason"]) == {"", "perplexity:middle", "perplexity:tail", "perplexity:missing"}
    heads = [v for v, b in zip(values, buckets, strict=True) if b == "head"]
    assert max(heads) <= 10.0 + 1e-9

    absolute = PerplexityFilter(max_perplexity=5.0, min_perplexity=2.0)({"perplexity": [1.0, 3.0, 9.0, None]})
    assert absolute["perplexity_reason"] == [
        "perplexity:below_min",
        "",
        "perplexity:above_max",
        "perplexity:missing",
    ]
    with pytest.raises(ValueError, match="unknown buckets"):
        PerplexityFilter(cutoffs=[1, 2], keep=("best",))
    with pytest.raises(ValueError, match="no finite"):
        perplexity_cutoffs([float("nan")])


# -- CLI ------------------------------------------------------------------------------------------------------
def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_cli_perplexity_buckets(tmp_path, tiny_llama, tokenizer, capsys):
    from hf_addons.cli import main

    tiny_llama.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    inp = _jsonl(tmp_path / "in.jsonl", [{"text": t, "id": i} for i, t in enumerate(TEXTS * 2 + [""])])
    out = tmp_path / "out.jsonl"
    argv = ["data", "perplexity", inp, "--model", str(tmp_path / "lm"), "--keep", "head", "--out", str(out)]
    assert main(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 11 and rows[-1]["perplexity_reason"] == "perplexity:missing"
    err = capsys.readouterr().err
    # the JSON summary comes last on stderr, after whatever progress output ran (none when datasets' map hit
    # its cache or an earlier test turned the bars off: then stderr starts with it)
    summary = json.loads(err[err.rfind("\n{\n") + 1 :])
    assert summary["kept"] == sum(r["perplexity_keep"] for r in rows) and len(summary["cutoffs"]) == 2
    assert main(argv[:-1] + [str(tmp_path / "kept.jsonl"), "--drop"]) == 0
    assert len((tmp_path / "kept.jsonl").read_text().splitlines()) == summary["kept"]


@pytest.mark.slow
def test_real_model_prefers_clean_article_text(default_model, shared):
    """The signal behind the AUC benchmark, on a few pages: clean bodies score lower than raw page text."""
    import gzip
    import re

    import lxml.html

    from hf_addons.data.scoring.perplexity import PerplexityScorer

    root = shared("data", "article-extraction")
    truth = json.loads((root / "ground-truth.json").read_text())
    keys = sorted(truth)[:6]
    raw = []
    for k in keys:
        html = gzip.decompress((root / "html" / f"{k}.html.gz").read_bytes()).decode("utf-8", "replace")
        doc = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", html))  # bytes would be read as Latin-1
        for bad in doc.xpath("//script|//style|//noscript"):
            bad.drop_tree()
        raw.append(re.sub(r"\s+", " ", doc.text_content()))
    clean = [re.sub(r"\s+", " ", truth[k]["articleBody"]) for k in keys]
    model, tok = default_model
    ppl = PerplexityScorer(model, tok, max_tokens=64).score(clean + raw)["perplexity"]
    assert np.mean(ppl[:6] < ppl[6:]) >= 5 / 6


def test_plan_batches_is_the_exact_minimum_and_merge_groups_respects_its_cap():
    """plan_batches minimises padded tokens + overhead x batches within the budget (checked against brute force
    over every split of a small sorted list); merge_groups joins consecutive batches up to a token cap."""
    import itertools

    from hf_addons.data.scoring.batching import merge_groups, plan_batches

    lens = np.array([40, 33, 31, 12, 11, 10, 9, 3])
    budget, overhead = 80, 10

    def cost(bounds):
        pairs = list(zip(bounds[:-1], bounds[1:]))
        if any((j - i) * lens[i] > budget and j - i > 1 for i, j in pairs):
            return np.inf
        return sum((j - i) * lens[i] + overhead for i, j in pairs)

    cuts = range(1, len(lens))
    best = min(cost([0, *c, len(lens)]) for r in range(len(lens)) for c in itertools.combinations(cuts, r))
    got = plan_batches(lens, budget, overhead=overhead)
    assert got[0] == 0 and got[-1] == len(lens) and cost(got) == best
    assert plan_batches(np.array([500, 4]), 64, overhead=1) == [0, 1, 2]  # too long for the budget: alone

    groups = [np.array([0]), np.array([1, 2]), np.array([3, 4, 5]), np.array([6, 7])]
    passes = merge_groups(groups, lens, max_tokens=70)
    assert [np.concatenate(p).tolist() for p in passes] == [[0], [1, 2], [3, 4, 5, 6, 7]]
    assert len(merge_groups(groups, lens, max_tokens=10)) == 4  # every group alone, none dropped


def test_default_is_exact_fp32_per_document(tiny_llama, tokenizer, tmp_path):
    """PerplexityScorer() is exact by default: a model it loads runs in fp32 (bf16 only when asked, as
    dtype="bfloat16" or "auto"), and its batched scores equal a plain per-document fp32 loop to 1e-4."""
    import copy

    from hf_addons.data.scoring.perplexity import PerplexityScorer

    copy.deepcopy(tiny_llama).to(torch.bfloat16).save_pretrained(tmp_path)  # stored bf16: loaded as fp32
    tokenizer.save_pretrained(tmp_path)
    scorer = PerplexityScorer(str(tmp_path), device="cpu", tokens_per_batch=64)
    got = scorer.score(TEXTS)["perplexity"]
    model = scorer._load()[0]
    assert model.dtype == torch.float32
    want = [naive_ppl(model, tokenizer, t) for t in TEXTS]  # one document per forward pass, fp32
    np.testing.assert_allclose(got, want, rtol=1e-4)
    asked = PerplexityScorer(str(tmp_path), device="cpu", dtype="bfloat16")
    asked.score(TEXTS[:1])
    assert asked._load()[0].dtype == torch.bfloat16


def test_ceiling_counts_the_forward_passes_weight_matmuls(tiny_llama):
    """The benchmark's fp32 ceiling divides by ``linear_flops``: it must be the matmul FLOPs torch counts for
    the loop's forward passes, without attention's score matmuls (so the ceiling is an upper bound)."""
    import sys
    from pathlib import Path

    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    from bench_perplexity import linear_flops

    lengths = [7, 19]
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        for n in lengths:  # the loop: one document per forward pass
            tiny_llama(torch.randint(0, tiny_llama.config.vocab_size, (1, n)))
    by_op = {str(op): f for op, f in counter.get_flop_counts()["Global"].items()}
    weight_matmuls = sum(f for op, f in by_op.items() if op.split(".")[1] in ("mm", "addmm"))
    assert weight_matmuls == linear_flops(tiny_llama, lengths) > 0
