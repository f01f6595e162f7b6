"""Every user error of the CLI is one line naming the input and the problem, exit code 2, no traceback."""

from __future__ import annotations

import gzip

import pytest

from hf_addons.cli import main

_LINES = b"".join(b'{"text": "line %d of a file that was cut"}\n' % i for i in range(5000))
CUT_GZIP = gzip.compress(_LINES)[: len(gzip.compress(_LINES)) // 2]


def _prepare(tmp_path, path, capsys, out=None):
    rc = main(
        ["data", "prepare", "--input", str(path), "--output", str(out or tmp_path / "out"), "--no-progress"]
    )
    return rc, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.jsonl", b"", "the file is empty"),
        ("binary.jsonl", bytes(range(256)) * 8, "not JSON Lines"),
        ("bad.jsonl", b'{"text": "fine"}\n{"text": \n', "line 2 is not valid JSON"),
        ("cut.jsonl.gz", CUT_GZIP, "gzip stream is cut"),
        ("notgzip.jsonl.gz", b'{"text": "plain"}\n', "not a valid gzip file"),
        ("junk.parquet", b"not parquet at all", "not a Parquet file"),
    ],
)
def test_bad_input_files_give_one_line_and_exit_2(tmp_path, capsys, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    rc, err = _prepare(tmp_path, path, capsys)
    assert rc == 2
    assert "Traceback" not in err and "Logging error" not in err, err
    (line,) = [x for x in err.splitlines() if "error" in x.lower()]
    assert line.startswith("hf-addons data: error:") and str(path) in line and problem in line, err


def test_missing_input_and_output_that_is_a_file(tmp_path, capsys):
    rc, err = _prepare(tmp_path, tmp_path / "nope.jsonl", capsys)
    assert rc == 2 and "input not found" in err and "nope.jsonl" in err
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "a short line of text"}\n')
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    rc, err = _prepare(tmp_path, good, capsys, out=a_file)
    assert rc == 2 and "is a file" in err and str(a_file) in err


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        main(["--debug", "data", "prepare", "--input", str(path), "--output", str(tmp_path / "o")])


def test_an_unknown_model_fails_at_once_when_offline(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    rc = main(["watermark", "generate", "--model", "no-such-org/no-such-model", "--prompt", "hi"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no-such-org/no-such-model" in err and "Traceback" not in err, err
