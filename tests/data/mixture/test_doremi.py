"""DoReMi: the domain-weight update by hand, its bounds, a tiny end-to-end run on domains of known difficulty."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_update_matches_the_hand_computed_step():
    from hf_addons.data.mixture.doremi import update_domain_weights

    w = torch.tensor([0.5, 0.5], dtype=torch.float64)
    # softmax(log .5 + 1, log .5) = (e, 1) / (e + 1); then 0.9 * that + 0.1 / 2
    new = update_domain_weights(w, torch.tensor([1.0, 0.0], dtype=torch.float64), eta=1.0, smoothing=0.1)
    assert new.tolist() == pytest.approx([0.9 * math.e / (math.e + 1) + 0.05, 0.9 / (math.e + 1) + 0.05])
    assert new.tolist() == pytest.approx([0.7079527, 0.2920473], abs=1e-7)
    # eta scales the excess: w * exp(eta * excess) = (.2 * 3, .3, .5) -> (.6, .3, .5) / 1.4
    w3 = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    ex = torch.tensor([math.log(3) / 2, 0.0, 0.0], dtype=torch.float64)
    assert update_domain_weights(w3, ex, eta=2.0, smoothing=0.0).tolist() == pytest.approx(
        [3 / 7, 1.5 / 7, 2.5 / 7]
    )


def test_bounds_are_a_rescale_and_clip():
    """The KL projection keeps the unbounded domains' ratio: a capped domain's excess goes to the others."""
    from hf_addons.data.mixture.doremi import update_domain_weights

    w3 = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    ex = torch.tensor([math.log(3), 0.0, 0.0], dtype=torch.float64)  # unbounded: (.6, .3, .5) / 1.4
    up = torch.tensor([0.3, 1.0, 1.0], dtype=torch.float64)
    capped = update_domain_weights(w3, ex, smoothing=0.0, upper=up)
    assert capped.tolist() == pytest.approx([0.3, 0.7 * 0.3 / 0.8, 0.7 * 0.5 / 0.8])
    lo = torch.tensor([0.0, 0.25, 0.0], dtype=torch.float64)
    floored = update_domain_weights(w3, ex, smoothing=0.0, lower=lo)
    assert floored.tolist() == pytest.approx([0.75 * 0.6 / 1.1, 0.25, 0.75 * 0.5 / 1.1])


def test_weights_stay_on_the_simplex_and_within_bounds_over_many_steps():
    from hf_addons.data.mixture.doremi import update_domain_weights

    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([0.05, 0.0, 0.1, 0.0])
    up = torch.tensor([0.5, 0.3, 1.0, 0.2])
    w = torch.full((4,), 0.25)
    for _ in range(300):
        w = update_domain_weights(
            w, 3 * torch.rand(4, generator=g), eta=1.0, smoothing=1e-3, lower=lo, upper=up
        )
        assert abs(float(w.sum()) - 1) < 1e-5
        assert bool(torch.all(w >= lo - 1e-6)) and bool(torch.all(w <= up + 1e-6))


def test_domain_excess_is_per_domain_token_mean_of_the_clipped_difference():
    from hf_addons.data.mixture.doremi import domain_excess

    loss = torch.tensor([[3.0, 1.0], [2.0, 2.0], [5.0, 0.0], [1.0, 1.0]])
    ref = torch.tensor([[1.0, 2.0], [1.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
    # per token, clipped: [2, 0], [1, 1], [4, 0], [.5, .5]; domains 0, 1, 0, 2 of 4 (domain 3 absent)
    excess, present = domain_excess(loss, ref, torch.tensor([0, 1, 0, 2]), 4)
    assert excess.tolist() == pytest.approx([6 / 4, 2 / 2, 1 / 2, 0.0])
    assert present.tolist() == [True, True, True, False]


# -- end to end: a learnable domain and a noise domain --------------------------------------------------------
TINY = dict(
    hidden_size=16,
    num_layers=1,
    num_heads=2,
    intermediate_size=32,
    seq_len=32,
    batch_size=8,
    vocab=512,
    learning_rate=5e-3,  # a tiny proxy needs a larger rate than the 1M default
)


def _synthetic():
    """``pattern``: counting sentences (learnable, reference loss far below the untrained proxy's);
    ``noise``: uniformly random words (nothing to learn past the unigram: little excess loss)."""
    from datasets import Dataset

    rng = np.random.default_rng(0)
    numbers = "one two three four five six seven eight nine ten".split()
    pattern = [" ".join(numbers[i % 10] for i in range(s, s + 60)) + "." for s in rng.integers(0, 10, 400)]
    words = sorted({w for w in open(__file__).read().split() if w.isalpha() and len(w) > 2})
    noise = [" ".join(rng.choice(words, 60)) for _ in range(400)]
    train = {
        "pattern": Dataset.from_dict({"text": pattern[20:]}),
        "noise": Dataset.from_dict({"text": noise[20:]}),
    }
    val = {
        "pattern": Dataset.from_dict({"text": pattern[:20]}),
        "noise": Dataset.from_dict({"text": noise[:20]}),
    }
    return train, val


def test_the_domain_with_the_larger_excess_loss_gains_weight(tmp_path):
    """Real proxies: the reference has learned the pattern, the untrained DRO proxy has not, so the pattern's
    excess is the larger and it gains weight; once the DRO proxy has caught up on it, the noise takes over."""
    from hf_addons.data.mixture.doremi import doremi_weights
    from hf_addons.data.mixture.mixture import build_mixture
    from hf_addons.data.mixture.proxy import ProxyConfig

    train, val = _synthetic()
    kw = dict(tokens_per_run=12_288, proxy=ProxyConfig(**TINY), eval_tokens=512, cache_dir=tmp_path)
    res = doremi_weights(train, val, reference="uniform", max_share={"pattern": 0.9}, **kw)
    assert res.tokens == 2 * 12_288 and res.proxy_run["steps"] >= 40
    # the reference learned the pattern, not the noise
    assert res.reference_run["val_loss"]["pattern"] < res.reference_run["val_loss"]["noise"] - 1
    traj = res.proxy_run["trajectory"]
    (ex_p, ex_n), w_p = traj["excess"][0], traj["weights"][0][0]
    assert traj["step"][0] == 1 and ex_p > ex_n + 0.5
    # the first update from uniform, by the formula: (1 - 1e-3) * sigmoid(excess difference) + 1e-3 / 2
    assert w_p == pytest.approx(0.999 / (1 + math.exp(ex_n - ex_p)) + 0.0005, abs=1e-5) and w_p > 0.75
    # caught up: the DRO proxy (pattern-heavy early on) ends below the reference on the pattern, whose excess
    # is then the smaller, and the weight has moved to the noise
    assert res.proxy_run["val_loss"]["pattern"] < res.reference_run["val_loss"]["pattern"]
    assert res.proxy_run["final_excess"]["pattern"] < res.proxy_run["final_excess"]["noise"]
    assert res.proxy_run["final_weights"]["noise"] > 0.9
    # bounds and simplex at every recorded step; the recommendation is their average
    w = np.asarray(traj["weights"])
    assert np.all(w[:, 0] <= 0.9 + 1e-6) and np.allclose(w.sum(1), 1, atol=1e-5)
    assert res.weights["pattern"] <= 0.9 + 1e-6 and abs(sum(res.weights.values()) - 1) < 1e-9
    # both proxies saw the reference (uniform) mixture: every block holds one domain, about half each
    assert res.proxy_run["block_share"]["pattern"] == pytest.approx(0.5, abs=0.05)
    assert "DoReMi" in res.to_card() and res.to_dict()["method"] == "doremi"
    assert res.plot(tmp_path / "w.png").stat().st_size > 1000
    again = doremi_weights(train, val, reference="uniform", max_share={"pattern": 0.9}, **kw)  # resumes
    assert (
        again.weights == res.weights and again.proxy_run.get("cached") and again.reference_run.get("cached")
    )
    assert not res.reference_run.get("cached") and not res.proxy_run.get("cached")
    mix = build_mixture(train, res.weights, tokenizer="whitespace", num_tokens=5000)
    assert mix.report()["max_abs_error_pp"] < 5


def test_bad_input_is_an_error_before_any_training(tmp_path):
    from datasets import Dataset

    from hf_addons.data.mixture.doremi import doremi_weights
    from hf_addons.data.mixture.proxy import ProxyConfig

    train, val = _synthetic()
    kw = dict(tokens_per_run=4096, proxy=ProxyConfig(**TINY), eval_tokens=256, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="eta must be a positive step size, got 0"):
        doremi_weights(train, val, eta=0, **kw)
    with pytest.raises(ValueError, match=r"smoothing must be in \[0, 1\), got 1"):
        doremi_weights(train, val, smoothing=1, **kw)
    with pytest.raises(ValueError, match="reference 'mean' is neither 'natural', 'uniform'"):
        doremi_weights(train, val, reference="mean", **kw)
    with pytest.raises(ValueError, match="code"):  # a reference naming a domain that is not a source
        doremi_weights(train, val, reference={"code": 0.5, "noise": 0.5}, **kw)
    tiny = dict(train, tiny=Dataset.from_dict({"text": ["a few words only"]}))
    with pytest.raises(ValueError, match=r"source 'tiny' has \d+ tokens .* epochs > max_epochs 4"):
        doremi_weights(tiny, val, reference="uniform", **kw)  # uniform needs 1/3 of the budget from it
    with pytest.raises(ValueError, match=r"min_share values sum to 1.200 > 1"):
        doremi_weights(train, val, min_share=0.6, **kw)
    assert not list(tmp_path.glob("*.json"))  # nothing was trained


def test_cli_doremi_writes_weights_and_rejects_regmix_options(tmp_path, capsys):
    import json

    from hf_addons.cli import main

    train, val = _synthetic()
    args = ["data", "mixture-search", "--method", "doremi", "--out-dir", str(tmp_path / "out")]
    for name in train:
        for kind, ds in (("source", train[name]), ("validation", val[name])):
            path = tmp_path / f"{name}-{kind}.jsonl"
            path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ds["text"]))
            args += [f"--{kind}", f"{name}={path}"]
    args += [
        "--hidden-size",
        "16",
        "--layers",
        "1",
        "--seq-len",
        "32",
        "--vocab",
        "512",
        "--tokens-per-run",
        "4096",
    ]
    assert main(args + ["--runs", "8"]) == 2
    assert "--runs only apply to --method regmix" in capsys.readouterr().err
    assert main(args + ["--reference", "uniform"]) == 0
    weights = json.loads((tmp_path / "out" / "weights.json").read_text())
    assert set(weights) == {"pattern", "noise"} and abs(sum(weights.values()) - 1) < 1e-9
    search = json.loads((tmp_path / "out" / "search.json").read_text())
    assert search["method"] == "doremi" and search["tokens"] == 2 * 4096
    assert (tmp_path / "out" / "mixture-search.png").exists()
