"""Sharded on-disk activation caches: resumable collection, and streaming them into training."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from hf_addons.interp import (  # noqa: E402
    SAEConfig,
    SAETrainer,
    SAETrainingArguments,
    ShardedActivationSource,
    SparseAutoencoder,
    cache_activations_sharded,
    collect_activations,
)

TEXTS = [f"Sentence number {i} talks about tide pools, crabs and barnacles." * (1 + i % 3) for i in range(24)]


def _all_rows(path) -> torch.Tensor:
    from safetensors.torch import load_file

    index = json.loads((path / "index.json").read_text())
    return torch.cat([load_file(str(path / s["file"]))["activations"] for s in index["shards"]])


def test_sharded_cache_equals_collection_and_resumes(tiny_llama, tokenizer, tmp_path):
    kw = dict(layer=1, context_size=32)
    full = collect_activations(tiny_llama, tokenizer, TEXTS, batch_size=4, **kw)
    one = cache_activations_sharded(tiny_llama, tokenizer, TEXTS, tmp_path / "one", shard_tokens=100, **kw)
    index = json.loads((one / "index.json").read_text())
    assert len(index["shards"]) > 2 and index["texts_done"] == len(TEXTS)
    torch.testing.assert_close(_all_rows(one), full)
    # interrupted after ~150 rows, then rerun on the same texts: the same cache, no text twice
    part = cache_activations_sharded(
        tiny_llama, tokenizer, TEXTS, tmp_path / "two", shard_tokens=100, max_tokens=150, **kw
    )
    assert json.loads((part / "index.json").read_text())["texts_done"] < len(TEXTS)
    cache_activations_sharded(tiny_llama, tokenizer, TEXTS, part, shard_tokens=100, **kw)
    torch.testing.assert_close(_all_rows(part), full)
    # stopped by max_tokens with rows still buffered: the chunk read but not cached is not counted as done
    held = cache_activations_sharded(
        tiny_llama, tokenizer, TEXTS, tmp_path / "held", shard_tokens=1000, max_tokens=150, **kw
    )
    cache_activations_sharded(tiny_llama, tokenizer, TEXTS, held, shard_tokens=1000, **kw)
    torch.testing.assert_close(_all_rows(held), full)
    with pytest.raises(ValueError, match="caches hook"):
        cache_activations_sharded(tiny_llama, tokenizer, TEXTS, part, layer=0, context_size=32)


def test_sharded_source_streams_every_row_and_resumes(tmp_path):
    from safetensors.torch import save_file

    rows = torch.arange(1000, dtype=torch.float32)[:, None].repeat(1, 4)
    shards = []
    for i, chunk in enumerate(rows.split(130)):
        save_file({"activations": chunk.contiguous()}, str(tmp_path / f"shard-{i:05d}.safetensors"))
        shards.append({"file": f"shard-{i:05d}.safetensors", "rows": chunk.shape[0]})
    (tmp_path / "index.json").write_text(json.dumps({"shards": shards, "d": 4, "texts_done": 0}))

    src = ShardedActivationSource(tmp_path, batch_size=64, seed=3, shards_in_memory=2)
    epoch = torch.cat([next(src) for _ in range(1000 // 64)])[:, 0]
    assert len(set(epoch.tolist())) == epoch.numel()  # no row twice within an epoch
    assert not torch.equal(epoch, epoch.sort().values)  # shuffled
    a = ShardedActivationSource(tmp_path, batch_size=64, seed=3)
    for _ in range(5):
        next(a)
    b = ShardedActivationSource(tmp_path, batch_size=64, seed=3)
    b.load_state_dict(a.state_dict())
    for _ in range(20):  # across the epoch boundary too
        torch.testing.assert_close(next(a), next(b))


def test_training_streams_from_sharded_cache(tiny_llama, tokenizer, tmp_path):
    path = cache_activations_sharded(tiny_llama, tokenizer, TEXTS, tmp_path / "c", shard_tokens=80, layer=1)
    src = ShardedActivationSource(path, batch_size=64, shards_in_memory=1)
    d = src.index["d"]
    sae = SparseAutoencoder(SAEConfig(d_in=d, d_sae=4 * d, k=4))
    args = SAETrainingArguments(total_tokens=64 * 30, batch_size=64, progress=False, logging_steps=10)
    history = SAETrainer(sae, args, src).train()
    assert history["fvu"] < 1.0 and src.epoch >= 1
