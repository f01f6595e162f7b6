"""Default-model load time: first load (GGUF de-quantisation + conversion) vs second (converted cache).

Anchor: transformers' own ``from_pretrained(dir, gguf_file=...)`` on every load. Run:
    python benchmarks/bench_model_load.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402


def main() -> None:
    os.environ["HF_ADDONS_CACHE"] = tempfile.mkdtemp(prefix="hf-addons-bench-")
    from transformers import AutoModelForCausalLM

    from hf_addons import models

    gguf = models.default_gguf()
    t0 = time.perf_counter()
    AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    models.load_model(device="cpu")
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    models.load_model(device="cpu")
    second = time.perf_counter() - t0
    write_result(
        "model_load",
        {"plain_gguf_load_s": plain, "first_load_s": first, "second_load_s": second},
        [
            {
                "capability": "foundation",
                "metric": "default model load, 2nd time (s)",
                "anchor": "from_pretrained(gguf_file=...)",
                "anchor_value": round(plain, 2),
                "ours": round(second, 2),
                "ratio": round(plain / second, 1),
                "unit": "s",
                "target": "a few seconds",
                "met": second < 5,
            }
        ],
    )


if __name__ == "__main__":
    main()
