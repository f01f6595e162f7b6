"""Publish artifacts and run the Spaces: what a push would upload (offline), load it back, serve a Space.

python examples/hub_spaces.py --tiny           # tiny random model: prints push plans, round-trips, one Space call
python examples/hub_spaces.py                  # the same on the default model
python examples/hub_spaces.py --push me/wm     # really push the WatermarkConfig (needs `hf auth login`)
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from datasets import Dataset

from hf_addons import hub
from hf_addons.interp import SAEConfig, SparseAutoencoder
from hf_addons.models import load_model, load_tokenizer
from hf_addons.testing import tiny_causal_lm
from hf_addons.watermark import WatermarkConfig

parser = argparse.ArgumentParser()
parser.add_argument("--tiny", action="store_true", help="tiny random model and SAE (what the tests run)")
parser.add_argument("--push", metavar="REPO_ID", help="really push the WatermarkConfig to this repo")
args = parser.parse_args()

# 1. what a push uploads, offline: the exact files, the card text, the key left out
config = WatermarkConfig(seeding_scheme="selfhash", context_width=4, hashing_key=123456789)
plan = hub.push_to_hub(config, "me/watermark-config", dry_run=True)
print("WatermarkConfig push:", {p: len(b) for p, b in plan.items()})
assert b"123456789" not in b"".join(plan.values()), "the secret key must stay local"

d_in = 64 if args.tiny else 576
sae = SparseAutoencoder(
    SAEConfig(d_in=d_in, expansion_factor=4, k=8, model_name="SmolLM2-135M-Instruct", layer=3)
)
sae_plan = hub.push_plan(sae)
print("SAE push:", sorted(sae_plan))
print(sae_plan["README.md"].decode().split("\n---\n", 1)[1].strip().splitlines()[0])

report = {"input_rows": 3, "output_rows": 2, "steps": [{"name": "gopher_quality", "removed": 1}]}
ds = Dataset.from_dict({"text": ["a clean document", "another one"]})
ds_plan = hub.push_plan(ds, report=report, source="examples/hub_spaces.py", license="cc-by-4.0")
print("dataset push:", sorted(ds_plan))

# 2. load back what was "pushed"
with tempfile.TemporaryDirectory() as tmp:
    loaded, rep = hub.load_processed_dataset(hub.write_plan(ds_plan, Path(tmp) / "ds"))
    assert loaded["text"] == ds["text"] and rep == report
    sae2 = SparseAutoencoder.from_pretrained(hub.write_plan(sae_plan, Path(tmp) / "sae"))
    print("round-trips ok:", len(loaded), "rows;", sae2.config.d_sae, "SAE latents")

# 3. a Space in-process, called like a remote client would
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spaces"))
from harness import client, load_space, serve  # noqa: E402

if args.tiny:
    tok = load_tokenizer()
    model = tiny_causal_lm("llama", tokenizer=tok)
else:
    model, tok = load_model()
demo = load_space("watermark").build_demo(model=model, tokenizer=tok, max_new_tokens=48)
with serve(demo) as url:
    out = client(url).predict(
        "Write about the sea.", 48, 0.25, 2.0, "lefthash", 1, "15485863", 4.0, api_name="/watermark_generate"
    )
    print("watermarked:", out[2])
    print("plain:      ", out[5])

if args.push:
    print(json.dumps(str(hub.push_to_hub(config, args.push))))
