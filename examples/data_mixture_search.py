"""Choose a pre-training mixture with small proxy models, check it on text nothing chose by, then build it.

Three real domains that every Python install carries: the standard library's source (code), the Python
reference manual's topics that pydoc ships (docs) and the licence files of the installed packages (licences).
Each is split by a hash of the document's name into train, validation (the search chooses by it) and test
(scored by every proxy, chosen by nothing).

python examples/data_mixture_search.py           # 32 proxies of 1.05M parameters, 200k tokens each (~10 min)
python examples/data_mixture_search.py --check   # then 5.5M-parameter proxies at 1M tokens, 2 seeds (~25 min)
python examples/data_mixture_search.py --tiny    # tiny proxies (about a minute): the numbers are noise
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sysconfig
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def split_of(name: str) -> str:
    """1 in 8 documents to validation, 1 in 8 to test, by name: the same split on every machine and run."""
    bucket = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 8
    return "validation" if bucket == 0 else "test" if bucket == 1 else "train"


def documents(limit: int | None) -> dict[str, dict[str, str]]:
    """domain -> {document name: text}."""
    from pydoc_data.topics import topics

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    code = {p.name: p.read_text(errors="replace") for p in sorted(stdlib.glob("*.py"))[:limit]}
    licence_files = sorted(site.glob("*.dist-info/LICEN[CS]E*")) + sorted(site.glob("*.dist-info/licenses/*"))
    seen, licences = set(), {}
    for path in filter(Path.is_file, licence_files):  # many ship the same MIT or Apache text: each once
        text = path.read_text(errors="replace").strip()
        if text and text not in seen:
            seen.add(text)
            licences[f"{path.parent.name}/{path.name}"] = text
    return {"code": code, "docs": dict(sorted(topics.items())), "licences": licences}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny proxies (fast, for CI)")
    parser.add_argument("--check", action="store_true", help="also train larger proxies on the result")
    parser.add_argument("--out-dir", default="mixture-search", help="proxy runs are cached here (resumable)")
    args = parser.parse_args()

    from datasets import Dataset, disable_progress_bars

    from hf_addons.data.mixture.proxy import ProxyConfig
    from hf_addons.data.mixture.scale_check import check_at_scale
    from hf_addons.data.mixture.search import search_mixture

    disable_progress_bars()
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "validation": {}, "test": {}}
    for domain, docs in documents(limit=40 if args.tiny else None).items():
        for part in splits.values():
            part[domain] = []
        for name, text in docs.items():
            splits[split_of(name)][domain].append(text)
    data = {part: {d: Dataset.from_dict({"text": t}) for d, t in v.items()} for part, v in splits.items()}
    for domain in data["train"]:
        print(f"{domain}: " + ", ".join(f"{len(data[p][domain])} {p}" for p in data))

    if args.tiny:
        shape = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, seq_len=32, vocab=512)
        proxy = ProxyConfig(**shape, learning_rate=5e-3)
        budget = dict(tokens_per_run=4096, num_runs=6, eval_tokens=512, candidates=2000)
        check_proxy, check_tokens = proxy.at_width(24, 2), 8192
    else:  # the defaults: a 1.05M-parameter Llama, 200k tokens; the check at 5.3x parameters, 5x tokens
        proxy, budget = ProxyConfig(), dict(tokens_per_run=200_000, num_runs=32)
        check_proxy, check_tokens = proxy.at_width(264, 4), 1_000_000
    result = search_mixture(
        data["train"],
        data["validation"],
        test=data["test"],
        objective="mean",
        proxy=proxy,
        max_doc_tokens=4 * proxy.seq_len,  # long files drawn in pieces, not all-or-nothing
        stratify=True,
        target_tokens=check_tokens,  # the recommendation stays within the epoch caps of the check's runs
        cache_dir=Path(args.out_dir) / "runs",
        workers=2,
        **budget,
    )
    print("recommended:", {d: round(w, 3) for d, w in result.weights.items()})
    print("natural:    ", {d: round(w, 3) for d, w in result.natural.items()})
    reg = result.regressor
    print(
        f"{reg}: CV Spearman {result.cv_spearman[reg]:.3f} on the validation sets it chose by, "
        f"{result.cv_spearman_test[reg]:.3f} on the test sets"
    )
    check = None
    if args.check or args.tiny:
        check = check_at_scale(result, check_proxy, tokens=check_tokens, seeds=2, workers=2)
        for name, held in (("validation", check), ("test", check.test)):
            means = {k: round(v["mean"], 4) for k, v in held.summary().items()}
            print(f"{name} sets at {check.parameters / 1e6:.2f}M parameters: {means}; {held.verdict()}")
    card = Path(args.out_dir) / "dataset-card.md"
    card.write_text(result.to_card(check))
    print(f"wrote {card} and {result.plot(Path(args.out_dir) / 'mixture-search.png')}")

    # the recommendation is a build_mixture weight dict: here 50k tokens of the mixture for a training run
    mixture = result.build(data["train"], num_tokens=50_000, seed=0, max_epochs=4.0)
    for domain, row in mixture.report()["sources"].items():
        print(f"{domain}: target {row['target_share']:.3f}, realised {row['realised_token_share']:.3f}")


if __name__ == "__main__":
    main()
