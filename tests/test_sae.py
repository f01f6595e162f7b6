"""Sparse autoencoder: model maths, training mechanics, activations, evaluation, features, loaders, CLI."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from hf_addons.interp import (
    SAEConfig,
    SAETrainer,
    SAETrainingArguments,
    SparseAutoencoder,
    ce_loss_recovered,
    evaluate,
    feature_mcc,
    geometric_median,
    make_synthetic,
    train_sae,
)

TEXTS = [
    "The cat sat on the mat and looked out of the window at the birds.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "In 1969 the first humans walked on the Moon during the Apollo 11 mission.",
    "Bananas, apples and oranges are sold at the market every Saturday morning.",
    "The quick brown fox jumps over the lazy dog while the farmer sleeps.",
] * 3


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The CI box is shared: OpenMP spinning across busy cores slows small ops 30x, so use one thread."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _sae(arch="topk", d_in=16, d_sae=64, k=4, seed=0, **kw):
    torch.manual_seed(seed)
    return SparseAutoencoder(SAEConfig(d_in=d_in, d_sae=d_sae, k=k, architecture=arch, **kw))


# -- model ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["topk", "batchtopk", "jumprelu", "relu"])
def test_save_load_roundtrip_exact_with_card(arch, tmp_path):
    from transformers import AutoModel

    sae = _sae(arch, model_name="tiny-llama", layer=1, hook_point="resid_post", tokens_trained=1234)
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    sae.config.metrics = {"l0": 4.0, "fvu": 0.25, "dead_fraction": 0.03}
    sae.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is SparseAutoencoder and loaded.config.architecture == arch
    for (name, a), (_, b) in zip(sae.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    x = torch.randn(5, 16)
    assert torch.equal(sae.eval().encode(x), loaded.eval().encode(x))
    card = (tmp_path / "README.md").read_text()
    for expected in ("tiny-llama", "layer 1", "resid_post", "1234", "| 4 |", "0.25", "| 3 |"):
        assert expected in card, expected


def _dense_topk_reference(sae, x, dead_mask, k_aux):
    """SAELens/sparsify-style dense TopK forward in plain autograd, to check our sparse kernels against."""
    sae_in = x - sae.b_dec
    pre = torch.relu(sae_in @ sae.W_enc + sae.b_enc)
    vals, idx = pre.topk(sae.config.k, dim=-1)
    acts = torch.zeros_like(pre).scatter(-1, idx, vals)
    recon = acts @ sae.W_dec + sae.b_dec
    total_var = (x - x.mean(0)).pow(2).sum()
    fvu = (x - recon).pow(2).sum() / total_var
    aux_pre = pre * dead_mask
    avals, aidx = aux_pre.topk(k_aux, dim=-1)
    e_hat = torch.zeros_like(pre).scatter(-1, aidx, avals) @ sae.W_dec
    scale = min(dead_mask.sum().item() / k_aux, 1.0)
    aux = scale * (e_hat - (x - recon).detach()).pow(2).sum() / total_var
    return fvu + aux / 32, fvu, aux


def test_sparse_topk_forward_and_backward_match_dense_reference():
    sae = _sae(d_in=16, d_sae=64, k=4)
    with torch.no_grad():
        sae.b_enc.add_(0.3)
        sae.b_dec.normal_()
    x = torch.randn(40, 16)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[::3] = True
    out = sae.train()(x, dead_mask=dead, k_aux=6)
    out.loss.backward()
    ours = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()
    ref_loss, ref_fvu, ref_aux = _dense_topk_reference(sae, x, dead, 6)
    ref_loss.backward()
    assert torch.allclose(out.fvu, ref_fvu, atol=1e-5) and torch.allclose(out.auxk_loss, ref_aux, atol=1e-5)
    for n, p in sae.named_parameters():
        assert torch.allclose(ours[n], p.grad, atol=1e-5), n


@pytest.mark.parametrize("arch", ["topk", "groupmax"])
@pytest.mark.parametrize("apply_b_dec", [True, False])
@pytest.mark.parametrize("with_dead", [False, True])
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_closed_form_topk_gradients_match_autograd(arch, apply_b_dec, with_dead, dtype):
    """The trainer's ``topk_loss_and_grads`` (no autograd graph) gives autograd's loss and gradients, and adds to
    existing ``.grad`` like ``backward`` does."""
    sae = _sae(arch, d_in=24, d_sae=96, k=6, apply_b_dec_to_input=apply_b_dec)
    with torch.no_grad():
        sae.b_enc.add_(0.2)
        sae.b_dec.normal_()
    x = torch.randn(50, 24)
    dead = torch.arange(1, 96, 5) if with_dead else None
    sae.train()
    out = sae(x, dead_mask=dead, k_aux=7, compute_dtype=dtype)
    out.loss.backward()
    ref = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad(set_to_none=True)
    ours = sae.topk_loss_and_grads(x, dead_mask=dead, k_aux=7, compute_dtype=dtype)
    assert not ours.loss.requires_grad
    torch.testing.assert_close(ours.loss, out.loss.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.fvu, out.fvu.detach(), rtol=1e-5, atol=1e-6)
    assert (ours.auxk_loss is None) == (not with_dead)
    assert torch.equal(ours.latent_indices, out.latent_indices)
    for n, p in sae.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], rtol=1e-4, atol=1e-6, msg=n)
    sae.topk_loss_and_grads(x, dead_mask=dead, k_aux=7, compute_dtype=dtype)  # accumulates
    for n, p in sae.named_parameters():
        torch.testing.assert_close(p.grad, 2 * ref[n], rtol=1e-4, atol=1e-6, msg=n)


def test_bf16_selection_keeps_fp32_values():
    """On CPU bf16 only picks the latents: the values are the fp32 pre-activations at the picked indices."""
    sae = _sae(d_in=64, d_sae=256, k=8)
    x = torch.randn(40, 64)
    values, indices = sae.encode_sparse(x)
    sae.train()
    out = sae.topk_loss_and_grads(x, compute_dtype=torch.bfloat16)
    pre = sae.pre_activations(x).detach()
    torch.testing.assert_close(out.latent_values, pre.gather(1, out.latent_indices).relu(), rtol=0, atol=1e-5)
    # bf16 rounding can only swap near-ties at the k-th place: almost all picks agree with fp32
    same = (out.latent_indices.sort(-1).values == indices.sort(-1).values).float().mean()
    assert same > 0.9


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("n", "d", "k"), [(64, 2304, 32), (33, 256, 8), (5, 96, 24), (7, 100, 3)])
def test_row_topk_selects_exactly_the_top_k(n, d, k, dtype):
    """The strided two-stage selection returns the same values as topk, at distinct indices holding them,
    also with heavy ties (small integers) and where it falls back to topk (d not divisible, k too large)."""
    from hf_addons.interp.model import row_topk

    g = torch.Generator().manual_seed(d + k)
    for x in (torch.randn(n, d, generator=g), torch.randint(-3, 4, (n, d), generator=g).float()):
        x = x.to(dtype)
        values, indices = row_topk(x, k)
        ref = x.topk(k, dim=-1).values
        assert torch.equal(values.sort(-1, descending=True).values, ref)
        assert torch.equal(x.gather(1, indices), values)
        assert (indices.sort(-1).values.diff(dim=-1) > 0).all()  # no index twice


def test_decoder_gradient_projection_removes_the_radial_part():
    sae = _sae(d_in=32, d_sae=48)
    sae.set_decoder_norm_to_unit_norm()
    grad = torch.randn_like(sae.W_dec)
    sae.W_dec.grad = grad.clone()
    sae.remove_gradient_parallel_to_decoder_directions()
    w = sae.W_dec.detach()
    torch.testing.assert_close((sae.W_dec.grad * w).sum(-1), torch.zeros(48), rtol=0, atol=1e-5)
    expected = grad - (grad * w).sum(-1, keepdim=True) * w
    torch.testing.assert_close(sae.W_dec.grad, expected, rtol=1e-5, atol=1e-5)


def test_trainer_closed_form_step_matches_autograd_training(monkeypatch):
    """A whole TopK run (AuxK on, W_enc stored as rows while training, Adam on the rows) ends where the same run
    with autograd's forward + backward ends, and gives W_enc back in its usual contiguous layout."""

    def run(closed_form: bool) -> SparseAutoencoder:
        sae = _sae(d_in=16, d_sae=64, k=4, seed=3)
        with torch.no_grad():
            sae.b_enc[:8] = -5.0  # latents that never fire, so AuxK runs
        args = SAETrainingArguments(
            total_tokens=64 * 30, batch_size=64, progress=False, bf16=False, dead_tokens_threshold=64 * 3
        )
        trainer = SAETrainer(sae, args, torch.randn(4000, 16, generator=torch.Generator().manual_seed(0)))
        if not closed_form:

            def autograd_step(self, x, **kw):
                out = self(x, **kw)
                out.loss.backward()
                return out

            monkeypatch.setattr(SparseAutoencoder, "topk_loss_and_grads", autograd_step)
        trainer.train()
        monkeypatch.undo()
        assert trainer.history[-1]["auxk_loss"] > 0
        return sae

    closed, auto = run(True), run(False)
    assert closed.W_enc.is_contiguous() and closed.W_enc.grad is None
    for (n, a), (_, b) in zip(closed.state_dict().items(), auto.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=n)


def test_auxk_gradient_reaches_only_dead_latents():
    sae = _sae(d_in=16, d_sae=64, k=4)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[40:] = True
    out = sae.train()(torch.randn(32, 16), dead_mask=dead, k_aux=8)
    out.auxk_loss.backward()
    touched = sae.W_enc.grad.abs().sum(0) > 0
    assert touched[40:].any() and not touched[:40].any()


def test_encode_decode_shapes_and_errors():
    sae = _sae().eval()
    x = torch.randn(2, 3, 16)
    acts = sae.encode(x)
    assert acts.shape == (2, 3, 64) and ((acts > 0).sum(-1) <= 4).all()
    values, indices = sae.encode_sparse(x)
    assert torch.allclose(sae.decode(acts), sae.decode_sparse(values, indices), atol=1e-5)
    with pytest.raises(ValueError, match="d_in=16"):
        sae.encode(torch.randn(3, 8))
    with pytest.raises(ValueError, match="NaN"):
        sae(torch.full((3, 16), float("nan")))
    with pytest.raises(ValueError, match="architecture"):
        SAEConfig(d_in=8, architecture="gated")


def test_batchtopk_keeps_k_per_token_on_average_and_learns_threshold():
    sae = _sae("batchtopk", k=4).train()
    x = torch.randn(64, 16)
    acts = sae.encode(x)
    assert (acts > 0).sum() == 4 * 64
    assert float(sae.threshold) > 0
    sae.eval()
    assert (sae.encode(x) > 0).float().sum(-1).mean() > 0


def test_geometric_median_is_robust_to_outliers():
    pts = torch.randn(500, 8) * 0.1 + 2.0
    pts[:20] += 1000.0
    med = geometric_median(pts)
    assert (med - 2.0).abs().max() < 0.1
    assert (pts.mean(0) - 2.0).abs().max() > 10


# -- training -------------------------------------------------------------------------------------------------
def test_synthetic_ground_truth_recovered_at_default_settings():
    """The CI quality gate: known sparse features mixed into a dense space must come back (MCC >= 0.9)."""
    data = make_synthetic(n_tokens=60_000, d_in=32, n_features=128, mean_active=4, seed=0)
    args = SAETrainingArguments(total_tokens=200_000, batch_size=1024, progress=False)
    sae = train_sae(data.activations, d_sae=256, k=8, args=args)
    mcc = feature_mcc(sae.W_dec, data.features)
    metrics = evaluate(sae, data.activations)
    assert mcc >= 0.9, mcc
    assert metrics["fvu"] < 0.25 and metrics["dead_fraction"] < 0.05, metrics
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(256), atol=1e-5)  # unit-norm decoder kept


def test_dead_latents_tracked_by_tokens_since_fired():
    sae = _sae(d_in=16, d_sae=64, k=4)
    with torch.no_grad():
        sae.b_enc[:8] = -1e4  # these can never fire
    args = SAETrainingArguments(
        total_tokens=256 * 10,
        batch_size=256,
        progress=False,
        dead_tokens_threshold=1000,
        b_dec_init="zeros",
        logging_steps=5,
    )
    trainer = SAETrainer(sae, args, torch.randn(2000, 16))
    metrics = trainer.train()
    assert (trainer.tokens_since_fired[:8] == 2560).all()
    assert metrics["dead_fraction"] >= 8 / 64


def test_tensorboard_logging(tmp_path):
    pytest.importorskip("tensorboard")
    args = SAETrainingArguments(
        total_tokens=256 * 4,
        batch_size=256,
        progress=False,
        logging_steps=2,
        output_dir=str(tmp_path),
        report_to=["tensorboard"],
    )
    SAETrainer(_sae(), args, torch.randn(1000, 16)).train()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    log = json.loads((tmp_path / "training_log.json").read_text())
    assert len(log) == 2 and {"fvu", "l0", "dead_fraction"} <= set(log[0])


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    acts = torch.randn(3000, 16)

    def args(**kw):
        return SAETrainingArguments(
            total_tokens=256 * 8, batch_size=256, progress=False, warmup_steps=2, **kw
        )

    straight = _sae(seed=1)
    SAETrainer(straight, args(), acts).train()

    first = _sae(seed=1)
    t1 = SAETrainer(first, args(output_dir=str(tmp_path), save_steps=4), acts)
    t1.total_steps = 4  # "crash" after the first checkpoint
    t1.train()
    assert (tmp_path / "checkpoint-4" / "trainer_state.pt").exists()
    resumed = _sae(seed=2)  # different init: everything must come from the checkpoint
    t2 = SAETrainer(resumed, args(output_dir=str(tmp_path)), acts)
    t2.train(resume_from_checkpoint=True)
    assert t2.tokens_seen == 256 * 8
    for (n, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), n


@pytest.mark.parametrize("arch", ["batchtopk", "jumprelu", "relu"])
def test_other_architectures_train_and_reduce_loss(arch):
    data = make_synthetic(n_tokens=8000, d_in=16, n_features=32, mean_active=3, seed=1)
    sae = _sae(arch, d_sae=64, k=4)
    before = evaluate(sae, data.activations)["fvu"]
    SAETrainer(
        sae, SAETrainingArguments(total_tokens=60_000, batch_size=512, progress=False), data.activations
    ).train()
    after = evaluate(sae, data.activations)
    assert after["fvu"] < 0.6 * before and after["l0"] < 64, (before, after)


def test_empty_and_bad_activations_raise():
    with pytest.raises(ValueError, match="non-empty"):
        SAETrainer(_sae(), SAETrainingArguments(progress=False), torch.empty(0, 16))
    with pytest.raises(ValueError, match="d_in=16"):
        SAETrainer(_sae(), SAETrainingArguments(progress=False), torch.randn(10, 8))
    bad = torch.randn(100, 16)
    bad[5, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        SAETrainer(_sae(), SAETrainingArguments(progress=False), bad)


# -- activations ------------------------------------------------------------------------------------------------
def test_activations_hook_early_exit_matches_full_forward(tiny_lm, tokenizer):
    from hf_addons.interp.activations import keep_mask, resolve_hook, run_to_hook, tokenize

    enc = tokenize(tokenizer, TEXTS[:3], 32, "cpu")
    full = tiny_lm(**enc, output_hidden_states=True)
    # (the last entry of hidden_states has the final norm applied, so compare layer 0 and layer 1's input)
    acts = run_to_hook(
        tiny_lm, resolve_hook(tiny_lm, 0, "resid_post"), enc["input_ids"], enc["attention_mask"]
    )
    assert torch.allclose(acts, full.hidden_states[1], atol=1e-5)
    pre = run_to_hook(tiny_lm, resolve_hook(tiny_lm, 1, "resid_pre"), enc["input_ids"], enc["attention_mask"])
    assert torch.allclose(pre, full.hidden_states[1], atol=1e-5)
    keep = keep_mask(enc["input_ids"], enc["attention_mask"], tokenizer)
    assert int(keep.sum()) == int(enc["attention_mask"].sum()) - 3  # pads and the 3 BOS dropped


def test_early_exit_skips_later_layers(tiny_llama, tokenizer):
    from hf_addons.interp.activations import resolve_hook, run_to_hook, tokenize

    calls = []
    handle = tiny_llama.model.layers[1].register_forward_hook(lambda *a: calls.append(1))
    try:
        enc = tokenize(tokenizer, TEXTS[:2], 16, "cpu")
        run_to_hook(tiny_llama, resolve_hook(tiny_llama, 0), enc["input_ids"], enc["attention_mask"])
    finally:
        handle.remove()
    assert calls == []


def test_bad_hooks_and_inputs(tiny_llama, tokenizer):
    from hf_addons.interp.activations import collect_activations, resolve_hook

    with pytest.raises(ValueError, match="valid names: .*model.layers.0"):
        resolve_hook(tiny_llama, hook_name="model.layers.7")
    with pytest.raises(ValueError, match="out of range"):
        resolve_hook(tiny_llama, layer=5)
    with pytest.raises(ValueError, match="empty"):
        collect_activations(tiny_llama, tokenizer, ["", "   "], layer=0)


def test_nan_activations_raise(tokenizer):
    from hf_addons.interp.activations import collect_activations
    from hf_addons.testing import tiny_causal_lm

    model = tiny_causal_lm("llama", tokenizer=tokenizer)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        collect_activations(model, tokenizer, TEXTS[:2], layer=0)


def test_buffer_shuffles_and_disk_cache_roundtrips(tiny_llama, tokenizer, tmp_path):
    from hf_addons.interp.activations import (
        ActivationBuffer,
        cache_activations,
        iter_activations,
        load_cached_activations,
    )

    stream = iter_activations(tiny_llama, tokenizer, TEXTS, layer=1, batch_size=4, context_size=32)
    buf = ActivationBuffer(stream, batch_size=64, buffer_tokens=256, seed=0)
    batches = list(buf)
    assert batches and all(b.shape == (64, 64) for b in batches)
    acts = torch.cat(batches)
    ahead = ActivationBuffer(
        iter_activations(tiny_llama, tokenizer, TEXTS, layer=1, batch_size=4, context_size=32),
        batch_size=64,
        buffer_tokens=256,
        seed=0,
        prefetch=2,
    )
    assert torch.equal(torch.cat(list(ahead)), acts)  # background LM forwards: same tokens, same order
    endless = ActivationBuffer(
        iter_activations(tiny_llama, tokenizer, itertools.cycle(TEXTS), layer=1), batch_size=8, prefetch=1
    )
    assert next(endless).shape == (8, 64)
    endless.close()
    assert not endless.stream.thread.is_alive()
    failing = ActivationBuffer(
        iter_activations(tiny_llama, tokenizer, ["", " "], layer=1), batch_size=8, prefetch=1
    )
    with pytest.raises(ValueError, match="empty"):
        next(failing)
    cache_activations(acts, tmp_path / "acts")
    assert torch.equal(load_cached_activations(tmp_path / "acts"), acts)


def test_stream_seek_continues_like_an_unbroken_stream(tiny_llama, tokenizer):
    from hf_addons.interp.activations import ActivationStream

    texts = ["", *TEXTS[:5], "  ", *TEXTS[5:9]]  # blank texts count as input positions, yield no tokens

    def stream(**kw):
        return ActivationStream(tiny_llama, tokenizer, texts, layer=1, batch_size=3, context_size=32, **kw)

    for repeat in (False, True):
        unbroken = stream(repeat=repeat)
        chunks = [next(unbroken) for _ in range(7 if repeat else 3)]  # repeat: into the third epoch
        for k in range(len(chunks)):
            first = stream(repeat=repeat)
            for _ in range(k):
                next(first)
            resumed = stream(repeat=repeat)
            resumed.seek(first.position)  # the model never sees the skipped texts
            rest = [next(resumed) for _ in range(len(chunks) - k)]
            assert all(torch.equal(a, b) for a, b in zip(rest, chunks[k:])), (repeat, k)
        if not repeat:
            assert unbroken.position == len(texts)
            with pytest.raises(StopIteration):
                next(unbroken)
    one_shot = ActivationStream(tiny_llama, tokenizer, iter(texts), layer=1)
    assert not one_shot.seekable and next(one_shot).shape[-1] == 64
    with pytest.raises(ValueError, match="cannot seek"):
        one_shot.seek(0)
    with pytest.raises(ValueError, match="re-iterable"):
        ActivationStream(tiny_llama, tokenizer, iter(texts), layer=1, repeat=True)
    with pytest.raises(ValueError, match="blank"):
        next(ActivationStream(tiny_llama, tokenizer, ["", " "], layer=1, repeat=True))


def test_live_stream_training_resumes_exactly(tiny_llama, tokenizer, tmp_path, caplog):
    from hf_addons.interp.activations import ActivationBuffer, ActivationStream, iter_activations

    def buffer(texts=TEXTS, seekable=True):
        stream = (
            ActivationStream(
                tiny_llama, tokenizer, texts, repeat=True, layer=1, batch_size=4, context_size=32
            )
            if seekable
            else iter_activations(tiny_llama, tokenizer, iter(texts), layer=1, batch_size=4, context_size=32)
        )
        return ActivationBuffer(stream, batch_size=32, buffer_tokens=256, seed=3, prefetch=2)

    def args(**kw):
        return SAETrainingArguments(total_tokens=32 * 14, batch_size=32, progress=False, warmup_steps=2, **kw)

    straight, buf = _sae(d_in=64, seed=1), buffer()
    SAETrainer(straight, args(), buf).train()  # 14 x 32 tokens: more than the 18 texts hold, 2+ epochs
    buf.close()
    first, buf = _sae(d_in=64, seed=1), buffer()
    t1 = SAETrainer(first, args(output_dir=str(tmp_path), save_steps=9), buf)
    t1.total_steps = 9  # "crash" after the checkpoint, with chunks prefetched beyond it
    t1.train()
    buf.close()
    resumed, buf = _sae(d_in=64, seed=2), buffer()
    t2 = SAETrainer(resumed, args(output_dir=str(tmp_path)), buf)
    t2.train(resume_from_checkpoint=True)
    buf.close()
    assert t2.tokens_seen == 32 * 14
    for (n, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), n
    # a one-shot iterator of texts cannot seek: the run resumes its weights and warns that the data is new
    one_shot = buffer(TEXTS * 4, seekable=False)
    assert one_shot.state_dict() is None
    t3 = SAETrainer(_sae(d_in=64), args(output_dir=str(tmp_path / "once"), save_steps=4), one_shot)
    t3.total_steps = 4
    t3.train()
    one_shot.close()
    again = buffer(TEXTS * 4, seekable=False)
    with caplog.at_level("WARNING"):
        SAETrainer(_sae(d_in=64), args(output_dir=str(tmp_path / "once")), again).train(
            resume_from_checkpoint=True
        )
    again.close()
    assert "cannot resume its position" in caplog.text


# -- evaluation --------------------------------------------------------------------------------------------------
def _identity_sae(d: int, layer: int) -> SparseAutoencoder:
    """ReLU SAE with latents [x+, x-]: reconstructs exactly, so the spliced model must equal the clean one."""
    sae = SparseAutoencoder(
        SAEConfig(
            d_in=d,
            d_sae=2 * d,
            architecture="relu",
            apply_b_dec_to_input=False,
            layer=layer,
            hook_point="resid_post",
        )
    )
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def test_ce_loss_recovered_identity_and_random(tiny_llama, tokenizer):
    perfect = ce_loss_recovered(_identity_sae(64, 0), tiny_llama, tokenizer, TEXTS[:4], context_size=32)
    assert perfect["ce_sae"] == pytest.approx(perfect["ce_clean"], abs=1e-4)
    assert perfect["kl_div"] == pytest.approx(0.0, abs=1e-4)
    assert perfect["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-3)
    rand = _sae(d_in=64, d_sae=128, k=2, layer=0).eval()
    scores = ce_loss_recovered(rand, tiny_llama, tokenizer, TEXTS[:4], context_size=32)
    assert scores["kl_div"] > 1e-4 and scores["ce_sae"] != pytest.approx(scores["ce_clean"], abs=1e-4)


@pytest.mark.parametrize("hook_point", ["resid_pre", "attn_z"])
def test_input_hook_points_collect_and_splice(tiny_llama, tokenizer, hook_point):
    """attn_z reads the attention output projection's input (TransformerLens's z, heads concatenated); input hook
    points splice too, so an exact SAE there leaves the model's loss as it is."""
    from hf_addons.interp.activations import resolve_hook, run_to_hook, tokenize

    spec = resolve_hook(tiny_llama, 0, hook_point)
    assert spec.read_input
    if hook_point == "attn_z":
        o_proj = tiny_llama.model.layers[0].self_attn.o_proj
        assert spec.module is o_proj
        enc = tokenize(tokenizer, TEXTS[:2], 32, "cpu")
        seen = []
        handle = o_proj.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
        with torch.no_grad():
            tiny_llama(**enc)
        handle.remove()
        assert torch.equal(run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"]), seen[0])
    from hf_addons.interp.evaluation import splice

    rand = _sae(d_in=64, d_sae=128, k=4, layer=0, hook_point=hook_point).eval()
    enc = tokenize(tokenizer, TEXTS[:2], 32, "cpu")
    original = run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"])
    received = []
    with torch.no_grad(), splice(rand, spec, "sae"):
        handle = spec.module.register_forward_pre_hook(
            lambda m, args, kw: received.append((args[0] if args else kw["hidden_states"]).clone()),
            with_kwargs=True,
        )
        tiny_llama(**enc)
        handle.remove()
        expected = rand(original).reconstruction
    torch.testing.assert_close(received[0], expected)  # the module reads the reconstruction of its input
    sae = _identity_sae(64, 0)
    sae.config.hook_point = hook_point
    perfect = ce_loss_recovered(sae, tiny_llama, tokenizer, TEXTS[:4], context_size=32)
    assert perfect["ce_sae"] == pytest.approx(perfect["ce_clean"], abs=1e-4)
    assert perfect["ce_zero"] != pytest.approx(perfect["ce_clean"], abs=1e-3)  # the splice did act


def test_single_head_sae_reads_and_writes_its_head_only(tiny_llama, tokenizer):
    """head_index (SAELens's hook_head_index): the SAE sees one head's d_head columns of attn_z; splicing and
    steering change those columns and leave the other heads' as they were."""
    from hf_addons.interp import steer
    from hf_addons.interp.activations import collect_activations, resolve_hook, run_to_hook, tokenize
    from hf_addons.interp.evaluation import splice

    enc = tokenize(tokenizer, TEXTS[:2], 32, "cpu")
    whole = run_to_hook(
        tiny_llama, resolve_hook(tiny_llama, 0, "attn_z"), enc["input_ids"], enc["attention_mask"]
    )
    spec = resolve_hook(tiny_llama, 0, "attn_z", head_index=2)  # 4 heads of 16
    head = run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"])
    assert torch.equal(head, whole[..., 32:48])
    acts = collect_activations(tiny_llama, tokenizer, TEXTS[:2], layer=0, hook_point="attn_z", head_index=2)
    assert acts.shape[-1] == 16
    sae = _sae(d_in=16, d_sae=32, k=4, layer=0, hook_point="attn_z", head_index=2).eval()
    received = []

    def grab(module, args, kw):
        received.append(args[0].clone())

    with torch.no_grad(), splice(sae, spec, "sae"):
        handle = spec.module.register_forward_pre_hook(grab, with_kwargs=True)
        tiny_llama(**enc)
        handle.remove()
    others = torch.cat([whole[..., :32], whole[..., 48:]], -1)
    assert torch.equal(torch.cat([received[0][..., :32], received[0][..., 48:]], -1), others)
    torch.testing.assert_close(received[0][..., 32:48], sae(head).reconstruction)
    received.clear()
    with torch.no_grad(), steer(tiny_llama, sae, 5, strength=3.0):
        handle = spec.module.register_forward_pre_hook(grab, with_kwargs=True)
        tiny_llama(**enc)
        handle.remove()
    moved = received[0] - whole
    torch.testing.assert_close(moved[..., 32:48], (3.0 * sae.W_dec[5]).expand_as(head))
    assert not moved[..., :32].any() and not moved[..., 48:].any()
    scores = ce_loss_recovered(sae, tiny_llama, tokenizer, TEXTS[:2], context_size=32)  # hooks via the config
    assert scores["ce_sae"] != pytest.approx(scores["ce_clean"], abs=1e-5) and scores["kl_div"] > 0
    with pytest.raises(ValueError, match="head_index selects one head of attn_z"):
        resolve_hook(tiny_llama, 0, "resid_post", head_index=1)
    with pytest.raises(ValueError, match="out of range"):
        resolve_hook(tiny_llama, 0, "attn_z", head_index=4)


def test_evaluate_metrics_consistent():
    sae = _identity_sae(16, 0)
    x = torch.randn(500, 16)
    m = evaluate(sae, x)
    assert m["fvu"] == pytest.approx(0.0, abs=1e-6) and m["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert m["l0"] == pytest.approx(float(((x > 0).sum() + (x < 0).sum()) / 500))
    with pytest.raises(ValueError, match="non-empty"):
        evaluate(sae, torch.empty(0, 16))


# -- features ---------------------------------------------------------------------------------------------------
def test_top_contexts_match_brute_force(tiny_llama, tokenizer):
    from hf_addons.interp import collect_activations, top_contexts

    sae = _sae(d_in=64, d_sae=128, k=8, layer=1).eval()
    rows = top_contexts(
        sae, tiny_llama, tokenizer, TEXTS, latents=[3, 50, 100], top_k=5, context_size=32, batch_size=4
    )
    acts = collect_activations(tiny_llama, tokenizer, TEXTS, layer=1, context_size=32)
    dense = sae.encode(acts)
    for row in rows:
        expected = dense[:, row["latent"]].topk(5).values
        got = torch.tensor([c["activation"] for c in row["contexts"]])
        n = len(got)
        assert torch.allclose(got, expected[:n], atol=1e-4) and (expected[n:] <= 0).all()
        assert row["frequency"] == pytest.approx(
            float((dense[:, row["latent"]] > 0).float().mean()), abs=1e-6
        )
        assert all("[[" in c["context"] for c in row["contexts"])
    with pytest.raises(ValueError, match="out of range"):
        top_contexts(sae, tiny_llama, tokenizer, TEXTS, latents=[999])
    with pytest.raises(ValueError, match="d_in=16 does not match"):
        top_contexts(_sae(d_in=16, layer=1), tiny_llama, tokenizer, TEXTS, latents=[0])
    with pytest.raises(ValueError, match="d_in=16 does not match"):
        ce_loss_recovered(_sae(d_in=16, layer=1), tiny_llama, tokenizer, TEXTS)


def test_top_contexts_counts_stats_and_max_tokens(tiny_llama, tokenizer):
    from hf_addons.interp import collect_activations, top_contexts

    sae = _sae(d_in=64, d_sae=128, k=8, layer=1).eval()
    rows, stats = top_contexts(
        sae, tiny_llama, tokenizer, TEXTS, top_k=3, context_size=32, batch_size=4, return_stats=True
    )
    acts = collect_activations(tiny_llama, tokenizer, TEXTS, layer=1, context_size=32)
    assert len(rows) == 128 and stats["n_tokens"] == acts.shape[0]
    assert stats["mean_norm"] == pytest.approx(float(acts.norm(dim=-1).mean()), rel=1e-5)
    fired = (sae.encode(acts) > 0).sum(0)
    assert [r["count"] for r in rows] == fired.tolist()
    for c in (c for r in rows for c in r["contexts"]):
        assert c["context"] == f"{c['left']}[[{c['token']}]]{c['right']}"
    # max_tokens stops after the batch that reaches it: here the first batch of 4 texts
    first, small = top_contexts(
        sae, tiny_llama, tokenizer, TEXTS, [3], context_size=32, batch_size=4, max_tokens=1, return_stats=True
    )
    assert (
        small["n_tokens"]
        == collect_activations(tiny_llama, tokenizer, TEXTS[:4], layer=1, context_size=32).shape[0]
    )
    assert all(c["text_index"] < 4 for c in first[0]["contexts"])


def test_logit_effect_matches_unembedding(tiny_llama, tokenizer):
    from hf_addons.interp import logit_effect

    sae = _sae(d_in=64, d_sae=128, k=8, layer=1)
    (eff,) = logit_effect(sae, tiny_llama, tokenizer, 7, top_k=3)
    direct = (tiny_llama.lm_head.weight @ (sae.W_dec[7] * tiny_llama.model.norm.weight)).detach()
    assert eff["positive"][0][1] == pytest.approx(float(direct.max()), rel=1e-4)
    assert eff["negative"][0][1] == pytest.approx(float(direct.min()), rel=1e-4)
    with pytest.raises(ValueError, match="d_in"):
        logit_effect(_sae(d_in=16), tiny_llama, tokenizer, 0)


def test_steering_adds_direction_during_generate(tiny_llama, tokenizer):
    from hf_addons.interp import generate_steered, steer
    from hf_addons.interp.activations import resolve_hook, run_to_hook, tokenize

    sae = _sae(d_in=64, d_sae=128, k=8, layer=0)
    enc = tokenize(tokenizer, TEXTS[:1], 16, "cpu")
    spec = resolve_hook(tiny_llama, 1, "resid_pre")  # what layer 0 hands on
    clean = run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"])
    with steer(tiny_llama, sae, 5, strength=3.0):
        steered = run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"])
    assert torch.allclose(steered - clean, (3.0 * sae.W_dec[5]).expand_as(clean), atol=1e-5)
    plain = generate_steered(tiny_llama, tokenizer, sae, "Hello", {5: 0.0}, max_new_tokens=8)
    pushed = generate_steered(tiny_llama, tokenizer, sae, "Hello", 5, strength=200.0, max_new_tokens=8)
    assert plain != pushed
    # chat=True: the prompt goes through the chat template as a user message
    enc = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with steer(tiny_llama, sae, 5, strength=200.0), torch.no_grad():
        out = tiny_llama.generate(**enc, max_new_tokens=8, do_sample=False)
    expected = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    chat = generate_steered(
        tiny_llama, tokenizer, sae, "Hello", 5, strength=200.0, max_new_tokens=8, chat=True
    )
    assert chat == expected


@pytest.mark.parametrize("norm", ["layer_norm", "constant_norm_rescale"])
def test_steering_a_normalising_sae_moves_the_latent_as_its_decoder_does(tiny_llama, tokenizer, norm):
    """With SAELens's per-token normalisation, +s on a latent is +s * (the token's scale) * W_dec in the model."""
    from hf_addons.interp import steer
    from hf_addons.interp.activations import resolve_hook, run_to_hook, tokenize

    sae = _sae(d_in=64, d_sae=128, k=8, layer=0, normalize_activations=norm).eval()
    enc = tokenize(tokenizer, TEXTS[:2], 16, "cpu")
    spec = resolve_hook(tiny_llama, 1, "resid_pre")
    clean = run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"])
    with steer(tiny_llama, sae, 5, strength=3.0):
        steered = run_to_hook(tiny_llama, spec, enc["input_ids"], enc["attention_mask"])
    with torch.no_grad():
        acts = sae.encode(clean)
        bumped = acts.clone()
        bumped[..., 5] += 3.0
        expected = sae.decode(bumped) - sae.decode(acts)  # decode maps back with each token's statistics
    torch.testing.assert_close(steered - clean, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(steered - clean, (3.0 * sae.W_dec[5]).expand_as(clean), atol=1e-3)


# -- loaders ------------------------------------------------------------------------------------------------------
def test_load_saelens_and_sparsify_formats(tmp_path):
    from safetensors.torch import save_file

    from hf_addons.interp import load_sae

    torch.manual_seed(0)
    d_in, d_sae, k = 16, 48, 5
    W_enc, W_dec = torch.randn(d_in, d_sae), torch.randn(d_sae, d_in)
    b_enc, b_dec = torch.randn(d_sae) * 0.1, torch.randn(d_in)
    x = torch.randn(10, d_in)

    lens = tmp_path / "saelens"
    lens.mkdir()
    cfg = {
        "architecture": "topk",
        "d_in": d_in,
        "d_sae": d_sae,
        "k": k,
        "hook_name": "blocks.3.hook_resid_pre",
        "model_name": "gpt2",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
    }
    (lens / "cfg.json").write_text(json.dumps(cfg))
    save_file(
        {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec},
        str(lens / "sae_weights.safetensors"),
    )
    sae = load_sae(lens)
    assert (sae.config.layer, sae.config.hook_point, sae.config.k) == (3, "resid_pre", k)
    pre = torch.relu((x - b_dec) @ W_enc + b_enc)
    v, i = pre.topk(k)
    expected = torch.zeros_like(pre).scatter(-1, i, v) @ W_dec + b_dec
    assert torch.allclose(sae.decode(sae.encode(x)), expected, atol=1e-5)

    jr = tmp_path / "jumprelu"
    jr.mkdir()
    (jr / "cfg.json").write_text(
        json.dumps({**cfg, "architecture": "jumprelu", "apply_b_dec_to_input": False})
    )
    thr = torch.rand(d_sae)
    save_file(
        {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec, "threshold": thr},
        str(jr / "sae_weights.safetensors"),
    )
    pre = x @ W_enc + b_enc
    assert torch.allclose(load_sae(jr).encode(x), pre * (pre > thr), atol=1e-5)

    sp = tmp_path / "run" / "layers.6"
    sp.mkdir(parents=True)
    (sp / "cfg.json").write_text(
        json.dumps(
            {
                "d_in": d_in,
                "num_latents": d_sae,
                "k": k,
                "expansion_factor": 3,
                "normalize_decoder": True,
                "multi_topk": False,
            }
        )
    )
    (sp.parent / "config.json").write_text(json.dumps({"model": "EleutherAI/pythia-70m"}))
    save_file(
        {"encoder.weight": W_enc.T.contiguous(), "encoder.bias": b_enc, "W_dec": W_dec, "b_dec": b_dec},
        str(sp / "sae.safetensors"),
    )
    sae = load_sae(sp)
    assert sae.config.layer == 6 and sae.config.model_name == "EleutherAI/pythia-70m"
    assert torch.allclose(sae.decode(sae.encode(x)), expected, atol=1e-5)

    with pytest.raises(ValueError, match="not an SAE folder"):
        load_sae(tmp_path)


@pytest.mark.slow
def test_default_model_small_run(default_model):
    """The real SmolLM2-135M: a small SAE on layer 9 must reconstruct well and keep most of the LM loss."""
    from hf_addons.interp import collect_activations

    model, tok = default_model
    texts = [t * 3 for t in TEXTS[:6]]
    acts = collect_activations(model, tok, texts, layer=9, context_size=96)
    args = SAETrainingArguments(total_tokens=60_000, batch_size=256, progress=False)
    sae = train_sae(acts, d_sae=1152, k=16, layer=9, args=args)
    m = evaluate(sae, acts)
    ce = ce_loss_recovered(sae, model, tok, texts, context_size=96)
    assert m["fvu"] < 0.5 and m["l0"] <= 16, m
    assert ce["ce_loss_recovered"] > 0.5 and ce["ce_sae"] < ce["ce_zero"], ce


# -- CLI ----------------------------------------------------------------------------------------------------------
def test_cli_train_eval_features(tiny_llama, tokenizer, tmp_path, capsys):
    from hf_addons.cli import main

    model_dir = tmp_path / "tiny"
    tiny_llama.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    texts = tmp_path / "texts.jsonl"
    texts.write_text("\n".join(json.dumps({"text": t}) for t in TEXTS))
    out = tmp_path / "sae"
    common = ["--model", str(model_dir), "--texts", str(texts), "--context-size", "32", "--device", "cpu"]
    assert (
        main(
            [
                "sae",
                "train",
                *common,
                "--layer",
                "1",
                "--d-sae",
                "128",
                "-k",
                "4",
                "--tokens",
                "4000",
                "--batch-size",
                "128",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "model.safetensors").exists() and "layer 1" in (out / "README.md").read_text()
    capsys.readouterr()
    assert main(["sae", "eval", *common, "--sae", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < result["l0"] <= 4 and 0 <= result["fvu"] < 1 and "ce_loss_recovered" in result
    assert main(["sae", "features", *common, "--sae", str(out), "--latents", "0,1", "--top", "3"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["latent"] for r in rows] == [0, 1] and len(rows[0]["positive_logits"]) == 3
    streamed = tmp_path / "streamed"
    assert (
        main(
            [
                "sae",
                "train",
                *common,
                "--layer",
                "0",
                "--d-sae",
                "128",
                "-k",
                "4",
                "--tokens",
                "1024",
                "--batch-size",
                "128",
                "--stream",
                "--save-steps",
                "4",
                "--out",
                str(streamed),
            ]
        )
        == 0
    )
    assert (streamed / "checkpoint-8" / "trainer_state.pt").exists()
    state = torch.load(streamed / "checkpoint-4" / "trainer_state.pt", weights_only=False)
    assert state["source"]["stream_position"] > 0  # --resume continues the live stream where it was
    one_head = tmp_path / "head"
    args = ["--layer", "0", "--hook-point", "attn_z", "--head-index", "1", "-k", "4", "--d-sae", "32"]
    for stream in ([], ["--stream"]):
        assert main(["sae", "train", *common, *args, *stream, "--tokens", "256", "--batch-size", "64",
                     "--out", str(one_head)]) == 0  # fmt: skip
        cfg = SparseAutoencoder.from_pretrained(one_head).config
        lm = __import__("transformers").AutoConfig.from_pretrained(model_dir)
        head_dim = lm.hidden_size // lm.num_attention_heads
        assert (cfg.hook_point, cfg.head_index, cfg.d_in) == ("attn_z", 1, head_dim)
    assert SparseAutoencoder.from_pretrained(streamed).config.tokens_trained == 1024
    assert main(["sae", "train", *common, "--hook-name", "model.nope", "--out", str(tmp_path / "x")]) == 2
    assert "valid names" in capsys.readouterr().err


def test_bf16_compute_path_close_to_fp32():
    """On CUDA and AMX CPUs training runs the encoder matmul in bf16; its loss and gradients must track fp32."""
    sae = _sae(d_in=32, d_sae=128, k=8)
    x = torch.randn(256, 32)
    dead = torch.arange(0, 128, 4)
    grads = []
    for dtype in (None, torch.bfloat16):
        sae.zero_grad()
        out = sae.train()(x, dead_mask=dead, compute_dtype=dtype)
        out.loss.backward()
        grads.append((float(out.loss.detach()), sae.W_dec.grad.clone()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=0.05)
    cos = torch.nn.functional.cosine_similarity(grads[0][1].flatten(), grads[1][1].flatten(), dim=0)
    assert cos > 0.9


def test_default_lr_schedule_and_precision():
    """Peak lr: Gao et al.'s rule on long runs, up to 8x on short TopK runs; warm-up then linear decay to 0."""
    from hf_addons.hardware import cpu_has_fast_bf16
    from hf_addons.interp.trainer import default_lr

    gao = 2e-4 / (4096 / 16384) ** 0.5
    assert default_lr(4096, 8192) == pytest.approx(gao) and default_lr(4096, 10**6) == pytest.approx(gao)
    assert default_lr(4096, 2048) == pytest.approx(2 * gao)
    assert default_lr(4096, 10) == pytest.approx(8 * gao)
    assert default_lr(4096, 10, "relu") == pytest.approx(gao)
    sae = _sae(d_in=16, d_sae=64, k=4)
    args = SAETrainingArguments(total_tokens=100 * 64, batch_size=64, progress=False)
    trainer = SAETrainer(sae, args, torch.randn(2000, 16))
    assert trainer.lr == pytest.approx(default_lr(64, 100))
    assert trainer.bf16 == cpu_has_fast_bf16()
    lrs = []
    for _ in range(100):
        lrs.append(trainer.scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.scheduler.step()
    assert lrs[0] == pytest.approx(trainer.lr / 5)  # 5% warm-up: 5 steps
    assert lrs[4] == lrs[50] == pytest.approx(trainer.lr)  # constant until the last 20%
    assert lrs[90] == pytest.approx(trainer.lr / 2) and lrs[-1] == pytest.approx(trainer.lr / 20)  # to 0
