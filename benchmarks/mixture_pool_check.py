"""Experiment (not kept): do epoch-matched proxies see the 2M-token ranking at 400k tokens?

Each source is cut to a pool of 400k / 2M = 20% of its tokens, so that a 400k-token proxy repeats every source
as often as a 2M-token run on all of it would. Trains the 1.05M search proxy on natural, uniform and the
200k / 400k searches' optima, seeds 1000-1001, and prints the objective per mixture.

    python benchmarks/mixture_pool_check.py --cache-dir /work/runs/mixture-search-webval4
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mixture_corpora import prepared_search  # noqa: E402

from hf_addons.data.mixture.search import ProxyConfig, _score, proxy_spec, run_proxies  # noqa: E402

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--cache-dir", required=True)
    args = p.parse_args()
    _, space, bundle, bpath, obj = prepared_search(
        {"web": 4},
        args.cache_dir,
        web=("articles", "lee"),
        tokens_per_run=400_000,
        max_doc_tokens=1024,
        stratify=True,
        seq_len=128,
        max_epochs=4.0,
    )
    proxy = ProxyConfig(vocab=4096).at_width(128, 2)
    mixes = {
        "natural": space.natural,
        "uniform": dict.fromkeys(space.names, 0.25),
        "optimum-400k": dict(code=0.228, math=0.558, multilingual=0.151, web=0.063),
        "optimum-200k": dict(code=0.308, math=0.332, multilingual=0.220, web=0.140),
    }
    labels = [(k, s) for s in (1000, 1001) for k in mixes]
    specs = [proxy_spec(mixes[k], space, proxy, bundle, s, tokens=400_000, pool=0.2) for k, s in labels]
    for (k, s), r in zip(labels, run_proxies(specs, bpath, args.cache_dir, workers=2), strict=True):
        print(k, s, round(_score(r["val_loss"], obj), 4), {d: round(v, 3) for d, v in r["val_loss"].items()})
