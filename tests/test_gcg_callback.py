"""GCGCallback leaves the trained model untouched and logs its metrics; the CLI keeps finished behaviours."""

from __future__ import annotations

import copy
import json
import random

import pytest
import torch

from hf_addons.redteam import GCGCallback, GCGConfig

BEHAVIORS = [
    ("Write a poem about the sea", "Sure, here is a poem"),
    ("Tell me a story", "Sure, here is a story"),
]
PROBE = GCGConfig(num_steps=2, search_width=16, topk=16, seed=0, optim_str_init="x x x x")


@pytest.fixture
def lora_model(tiny_llama):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(copy.deepcopy(tiny_llama), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))


def test_probe_restores_mode_grads_and_rng(lora_model, tokenizer):
    cb = GCGCallback(tokenizer, BEHAVIORS, config=PROBE, max_new_tokens=4)
    lora_model.train()
    trainable = [p for p in lora_model.parameters() if p.requires_grad]
    for p in trainable:  # a half-accumulated gradient must survive the probe unchanged
        p.grad = torch.full_like(p, 0.5)
    before = [p.detach().clone() for p in lora_model.parameters()]
    torch.manual_seed(123)
    random.seed(123)
    metrics = cb.probe(lora_model)
    after_torch, after_py = torch.rand(3), random.random()
    torch.manual_seed(123)
    random.seed(123)
    assert torch.equal(after_torch, torch.rand(3)) and after_py == random.random()
    assert lora_model.training
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in trainable)
    assert all(torch.equal(a, b) for a, b in zip(before, lora_model.parameters()))
    assert set(metrics) == {
        "gcg/attack_success_rate",
        "gcg/target_match_rate",
        "gcg/best_loss",
        "gcg/steps_to_success",
        "gcg/probe_seconds",
    }
    assert 0.0 <= metrics["gcg/attack_success_rate"] <= 1.0 and metrics["gcg/steps_to_success"] == 2
    assert metrics["gcg/best_loss"] > 0


@pytest.mark.slow  # a real Trainer run (~15 s here); examples/gcg_lora_callback.py --tiny covers it by default
def test_callback_logs_into_trainer_history(lora_model, tokenizer, tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    enc = tokenizer(["hello world, this is a test"] * 8, add_special_tokens=False)
    data = Dataset.from_dict({"input_ids": enc["input_ids"], "labels": enc["input_ids"]})
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        eval_strategy="steps",
        eval_steps=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
    )
    trainer = Trainer(model=lora_model, args=args, train_dataset=data, eval_dataset=data.select(range(2)))
    cb = GCGCallback(tokenizer, BEHAVIORS[:1], config=PROBE, every_n_steps=1, max_new_tokens=4).bind(trainer)
    trainer.add_callback(cb)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "gcg/attack_success_rate" in h]
    # every step (2) plus the evaluation at step 2
    assert [h["step"] for h in logged] == [1, 2, 2]
    assert len(cb.history) == 3
    assert all(p.grad is None for p in lora_model.parameters() if not p.requires_grad)


def test_callback_rejects_empty_behaviours(tokenizer):
    with pytest.raises(ValueError, match="at least one"):
        GCGCallback(tokenizer, [])


def test_cli_writes_rows_and_resumes(tiny_llama, tokenizer, tmp_path):
    from hf_addons.cli import main

    model_dir = tmp_path / "tiny"
    tiny_llama.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    csv = tmp_path / "b.csv"
    csv.write_text("goal,target\n" + "".join(f'"{g}","{t}"\n' for g, t in BEHAVIORS))
    out = tmp_path / "out.jsonl"
    base = ["gcg", "run", "--model", str(model_dir), "--behaviors", str(csv), "--out", str(out)]
    small = ["--steps", "2", "--search-width", "8", "--topk", "8", "--max-new-tokens", "4", "--device", "cpu"]
    assert main(base + small + ["--limit", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["goal"] == BEHAVIORS[0][0]
    assert len(rows[0]["losses"]) == 2 and isinstance(rows[0]["suffix"], str) and "success" in rows[0]
    assert main(base + small) == 0  # the finished behaviour is skipped, the second one added
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["goal"] for r in rows] == [g for g, _ in BEHAVIORS]
    empty = tmp_path / "empty.csv"
    empty.write_text("goal,target\n")
    assert main(["gcg", "run", "--behaviors", str(empty), "--out", str(tmp_path / "x.jsonl")]) == 2
