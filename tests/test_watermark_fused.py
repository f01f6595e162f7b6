"""Fused CPU watermark kernel (``torch.compile``): the eager path's exact bits, one graph, a safe fallback.

The compiled function is process-wide, so these tests share it: one compile per dtype (seconds the first
time on a machine, ~1 s from inductor's disk cache afterwards).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters
from transformers import LogitsProcessorList

import hf_addons.watermark.processor as processor_module
from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor, precompile_fused
from hf_addons.watermark.processor import FUSED_MIN_SCORES

REPO = Path(__file__).resolve().parents[1]
HASHED_SCHEMES = [("lefthash", 1), ("lefthash", 3), ("minhash", 4), ("selfhash", 4)]


def _compiled_calls(fn) -> int:
    """How many compiled regions ``fn()`` ran, from the profiler's trace (the real dispatch, not a flag)."""
    with torch.profiler.profile() as prof:
        fn()
    return sum(e.name.startswith("Torch-Compiled Region") for e in prof.events())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_equals_eager_for_every_scheme_and_batch_without_recompiling(dtype):
    """Same bits as ``scores + delta * green`` (delta 1.37 is no bf16 value: the alpha rounding is checked);
    batch sizes and schemes change between calls and share one compiled graph per dtype."""
    first = True
    for scheme, width in HASHED_SCHEMES:
        cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=23, delta=1.37)
        proc = WatermarkLogitsProcessor(cfg, fused=True)
        for step, batch in enumerate((5, 9, 2, 5)):
            ids = torch.randint(0, 1000, (batch, 6 + step))
            scores = torch.randn(batch, 1000).to(dtype)
            expect = scores.add(proc.green_mask(ids, 1000), alpha=1.37)
            if first:  # may compile (unless an earlier test did): the graph count is fixed from here on
                out = proc(ids, scores)
                graphs = counters["stats"]["unique_graphs"]
                first = False
            else:
                assert _compiled_calls(partial(proc, ids, scores)) == 1
                out = scores
            assert out is scores and torch.equal(out, expect), (scheme, width, batch)
    assert counters["stats"]["unique_graphs"] == graphs, "another batch size or scheme recompiled"


def test_auto_policy_fuses_large_cpu_batches_once_the_compile_has_paid(monkeypatch):
    """ "auto": small batches stay eager; large ones stay eager until they have cost FUSED_COMPILE_AFTER_S
    (rent-or-buy), or at once when the kernel is already compiled (``precompile_fused``)."""
    # a fresh process's state (no dtype compiled, no eager time spent) and a 0.2 s budget instead of 5 s
    monkeypatch.setattr(processor_module._FusedKernel, "ready", set())
    monkeypatch.setattr(processor_module._FusedKernel, "eager_seconds", 0.0)
    monkeypatch.setattr(processor_module, "FUSED_COMPILE_AFTER_S", 0.2)
    cfg = WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=5)
    auto, eager = WatermarkLogitsProcessor(cfg), WatermarkLogitsProcessor(cfg, fused=False)
    vocab = FUSED_MIN_SCORES // 2  # batch 2 reaches the threshold, batch 1 does not
    ids = torch.randint(0, vocab, (2, 8))
    scores = torch.randn(2, vocab)
    expect = eager(ids, scores.clone())
    small = scores[:1].clone()
    assert _compiled_calls(partial(auto, ids[:1], small)) == 0 and torch.equal(small, expect[:1])
    assert processor_module._FusedKernel.eager_seconds == 0.0  # small calls are not counted
    large_eager_calls = 0
    while processor_module._FusedKernel.eager_seconds < 0.2:
        large = scores.clone()
        assert _compiled_calls(partial(auto, ids, large)) == 0 and torch.equal(large, expect)
        large_eager_calls += 1
    assert large_eager_calls >= 2  # each large eager call costs a few ms here
    large = scores.clone()
    assert _compiled_calls(partial(auto, ids, large)) == 1 and torch.equal(large, expect)
    assert torch.float32 in processor_module._FusedKernel.ready
    with pytest.raises(ValueError, match="fused"):
        WatermarkLogitsProcessor(cfg, fused="always")


def test_precompile_makes_auto_fuse_from_the_first_large_step(monkeypatch):
    monkeypatch.setattr(processor_module._FusedKernel, "ready", set())
    monkeypatch.setattr(processor_module._FusedKernel, "eager_seconds", 0.0)
    assert precompile_fused(torch.float32)  # one graph for every batch >= 2 and vocabulary
    cfg = WatermarkConfig(seeding_scheme="lefthash", context_width=1, hashing_key=5)
    ids = torch.randint(0, 1000, (2, 8))
    scores = torch.randn(2, FUSED_MIN_SCORES // 2)
    expect = WatermarkLogitsProcessor(cfg, fused=False)(ids, scores.clone())
    assert _compiled_calls(partial(WatermarkLogitsProcessor(cfg), ids, scores)) == 1
    assert torch.equal(scores, expect)
    with pytest.raises(ValueError, match="fused kernel handles"):
        precompile_fused(torch.float64)


@pytest.mark.parametrize(
    "mode", [dict(do_sample=False, num_beams=3), dict(do_sample=True, top_k=0)], ids=["beam", "sample"]
)
def test_fused_generation_matches_eager_under_inference_mode(mode):
    """generate() with the fused kernel gives the eager path's tokens (beam search: 12 rows per step)."""
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm("llama", vocab_size=512, seed=1)
    cfg = WatermarkConfig(seeding_scheme="selfhash", context_width=4, delta=4.0, hashing_key=8)
    ids = torch.randint(1, 512, (4, 6), generator=torch.Generator().manual_seed(0))
    outs = []

    def run(fused: bool) -> None:
        torch.manual_seed(0)
        with torch.inference_mode():
            outs.append(
                model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(cfg, fused=fused)]),
                    max_new_tokens=12,
                    pad_token_id=0,
                    **mode,
                )
            )

    assert _compiled_calls(lambda: run(True)) == 12  # one fused call per decoding step
    run(False)
    assert torch.equal(outs[0], outs[1])


_NO_COMPILER = textwrap.dedent(
    """
    import json, warnings, torch
    from hf_addons.watermark import WatermarkConfig, WatermarkLogitsProcessor
    cfg = WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=3)
    fused, eager = WatermarkLogitsProcessor(cfg, fused=True), WatermarkLogitsProcessor(cfg, fused=False)
    ids, scores = torch.randint(0, 1000, (4, 8)), torch.randn(4, 1000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = [fused(ids, scores.clone()) for _ in range(2)]
    ours = [str(w.message) for w in caught if "fused CPU kernel" in str(w.message)]
    same = all(torch.equal(o, eager(ids, scores.clone())) for o in out)
    print("RESULT " + json.dumps({"same": same, "warnings": ours}))
    """
)


def test_missing_compiler_falls_back_with_one_warning(tmp_path):
    """A real compile failure (CXX names no compiler, empty inductor cache): same scores, one clear warning."""
    env = dict(os.environ, CXX=str(tmp_path / "no-such-c++"), TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "ind"))
    env.pop("TORCH_INDUCTOR_INSTALL_GXX", None)
    proc = subprocess.run(
        [sys.executable, "-c", _NO_COMPILER], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert result["same"]
    assert len(result["warnings"]) == 1, result["warnings"]
    assert "InvalidCxxCompiler" in result["warnings"][0] and "fused=False" in result["warnings"][0]


@pytest.mark.slow
@pytest.mark.parametrize("scheme,width", HASHED_SCHEMES)
def test_fused_equals_eager_fp16_and_real_vocab(scheme, width):
    """fp16 (its own graph) and the real 49,152 vocabulary at batch 64, through the default policy."""
    cfg = WatermarkConfig(seeding_scheme=scheme, context_width=width, hashing_key=99, delta=2.3)
    auto, eager = WatermarkLogitsProcessor(cfg), WatermarkLogitsProcessor(cfg, fused=False)
    assert precompile_fused(torch.float32, torch.bfloat16)  # "auto" then fuses batch 64 from the first call
    for dtype, batch, vocab in (
        (torch.float16, 6, 3000),
        (torch.float32, 64, 49152),
        (torch.bfloat16, 64, 49152),
    ):
        ids = torch.randint(0, vocab, (batch, 9))
        scores = torch.randn(batch, vocab).to(dtype)
        fused = WatermarkLogitsProcessor(cfg, fused=True) if batch * vocab < FUSED_MIN_SCORES else auto
        assert torch.equal(fused(ids, scores.clone()), eager(ids, scores.clone())), (dtype, batch)
