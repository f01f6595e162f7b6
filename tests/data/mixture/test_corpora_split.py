"""The benchmark corpora's held-out split into validation and test files (``benchmarks/mixture_corpora.py``)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import mixture_corpora as corpora  # noqa: E402  (a script of the repo: a broken import must fail)


def test_test_files_are_an_independent_share_of_the_held_out_files():
    keys = [f"pkg{i}/file{i % 17}.py" for i in range(20_000)]
    held = [k for k in keys if corpora._val(k, 4)]
    test = [k for k in held if corpora._test(k, 2)]
    # the test hash does not follow the validation hash (with the same hash, every file held out by 1 in 4
    # would be a test file by 1 in 2): about half of the held-out files
    assert 0.47 < len(test) / len(held) < 0.53
    assert 0.23 < len(held) / len(keys) < 0.27


@pytest.mark.parametrize("bad", [1, 0, -2, 2.5, True])
def test_bad_test_every_is_an_error_before_any_loading(bad):
    with pytest.raises(ValueError, match="test_every"):
        corpora.load_domains(test_every=bad)
