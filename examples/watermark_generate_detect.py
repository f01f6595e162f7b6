"""Generate with and without a watermark, then detect it from text alone (no model needed to detect).

python examples/watermark_generate_detect.py            # the embedded SmolLM2-135M-Instruct
python examples/watermark_generate_detect.py --tiny     # a tiny random model, seconds
"""

from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random model (for tests and a quick look)")
    ap.add_argument("--key", default="my secret passphrase")
    args = ap.parse_args()

    from hf_addons.models import load_model, load_tokenizer
    from hf_addons.watermark import WatermarkConfig, WatermarkDetector, generate

    if args.tiny:
        from hf_addons.testing import tiny_causal_lm

        tokenizer = load_tokenizer()
        model = tiny_causal_lm("llama", tokenizer=tokenizer)
        new_tokens = 24
    else:
        model, tokenizer = load_model()
        new_tokens = 150

    # selfhash over 4 tokens: the paper's robust choice; the key is the secret shared with the detector
    config = WatermarkConfig(
        gamma=0.25, delta=2.0, seeding_scheme="selfhash", context_width=4, hashing_key=args.key
    )
    prompts = [
        "Write a short story about a lighthouse keeper.",
        "Explain how vaccines train the immune system.",
    ]
    marked = generate(model, tokenizer, prompts, config, max_new_tokens=new_tokens, chat=True, seed=0)
    plain = generate(model, tokenizer, prompts, None, max_new_tokens=new_tokens, chat=True, seed=0)

    detector = WatermarkDetector(config, tokenizer=tokenizer)
    for label, texts in (("watermarked", marked["texts"]), ("plain", plain["texts"])):
        for text, result in zip(texts, detector.detect(texts)):
            print(
                f"[{label}] z={result.z_score:6.2f} p={result.p_value:.1e} flagged={result.prediction} "
                f"green={result.num_green_tokens}/{result.num_tokens_scored}  {text[:60]!r}"
            )

    # per-token colours for a UI: (token text, "green" | "red" | None)
    first = detector.detect(marked["texts"][0])
    print("highlights:", first.highlights()[:8])

    # a watermarked passage pasted inside human text: windowed detection finds it
    human = "The council met on Tuesday. " * 20
    mixed = detector.detect(human + marked["texts"][0] + " " + human, windowed=True)
    print(f"pasted span: full-text z={mixed.z_score:.2f}; best window {mixed.window}")


if __name__ == "__main__":
    main()
