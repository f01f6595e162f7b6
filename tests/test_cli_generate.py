"""``hf-addons watermark generate`` on instruct models: chat template by default, empty output reported."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    from hf_addons.testing import tiny_causal_lm

    path = tmp_path_factory.mktemp("tiny")
    tiny_causal_lm("llama", tokenizer=tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _generate(model_dir, tmp_path, *extra):
    from hf_addons.cli import main

    out = tmp_path / "gen.jsonl"
    args = ["watermark", "generate", "--prompt", "Hello", "--model", str(model_dir), "--max-new-tokens", "12"]
    rc = main([*args, "--key", "7", "--out", str(out), *extra])
    return rc, [json.loads(line) for line in out.read_text().splitlines()]


def test_chat_template_is_the_default_and_raw_opts_out(model_dir, tmp_path, tokenizer):
    assert tokenizer.chat_template is not None
    rc, rows = _generate(model_dir, tmp_path)
    assert rc == 0 and rows[0]["chat_template"] is True and rows[0]["empty"] is False
    rc, rows = _generate(model_dir, tmp_path, "--raw")
    assert rc == 0 and rows[0]["chat_template"] is False
    rc, rows = _generate(model_dir, tmp_path, "--chat")  # still accepted
    assert rc == 0 and rows[0]["chat_template"] is True


def test_chat_without_a_template_is_a_clear_error(tmp_path, tokenizer, capsys):
    from hf_addons.cli import main
    from hf_addons.testing import tiny_causal_lm

    path = tmp_path / "plain"
    tiny_causal_lm("llama", tokenizer=tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    config = json.loads((path / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    for name in ("chat_template.jinja", "chat_template.json"):
        (path / name).unlink(missing_ok=True)
    rc = main(["watermark", "generate", "--prompt", "Hi", "--model", str(path), "--chat", "--key", "1"])
    assert rc == 2 and "no chat template" in capsys.readouterr().err
    rc, rows = _generate(path, tmp_path)  # no template, no flag: raw prompts
    assert rc == 0 and rows[0]["chat_template"] is False


def test_an_empty_generation_is_reported(tmp_path, tokenizer, capsys):
    from hf_addons.testing import tiny_causal_lm

    # every logit equal: greedy picks id 0, a special token that decodes to "" (what an instruct model
    # fed a raw prompt often does: it stops or emits only special tokens)
    model = tiny_causal_lm("llama", tokenizer=tokenizer, tie_word_embeddings=False)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    path = tmp_path / "silent"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    assert tokenizer.convert_ids_to_tokens(0) in tokenizer.all_special_tokens
    rc, rows = _generate(path, tmp_path, "--greedy", "--no-watermark")
    assert rc == 3
    assert rows[0]["empty"] is True and rows[0]["text"] == ""
    assert "empty generation for prompt(s) [0]" in capsys.readouterr().err
