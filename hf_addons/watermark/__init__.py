"""Green/red-list LLM watermarking (Kirchenbauer et al. 2023): config, logits processor, detector.

``WatermarkConfig`` holds the settings and the secret key, ``WatermarkLogitsProcessor`` biases generation,
``WatermarkDetector`` scores token ids or texts with no model. ``generate`` is a one-call helper for UIs;
``load_metric`` loads the ``evaluate`` metric shipped inside the package.
"""

from pathlib import Path
from typing import Any

from hf_addons.watermark.config import MissingKeyError, PublicKeyWarning, WatermarkConfig
from hf_addons.watermark.detector import DetectionResult, WatermarkDetector
from hf_addons.watermark.generation import generate, generation_kwargs
from hf_addons.watermark.processor import WatermarkLogitsProcessor, precompile_fused


def metric_path() -> str:
    """Absolute path of the ``evaluate`` metric folder inside the installed package: pass it to
    ``evaluate.load(...)`` from any working directory, editable install or not."""
    return str(Path(__file__).resolve().parent / "metric" / "watermark_detection")


def load_metric(**kwargs: Any):
    """``evaluate.load(metric_path(), **kwargs)``: the watermark-detection metric, offline.

    Args:
        **kwargs: passed to ``evaluate.load`` (e.g. ``experiment_id=`` for parallel runs).
    """
    import evaluate

    return evaluate.load(metric_path(), **kwargs)


__all__ = [
    "DetectionResult",
    "MissingKeyError",
    "PublicKeyWarning",
    "WatermarkConfig",
    "WatermarkDetector",
    "WatermarkLogitsProcessor",
    "generate",
    "generation_kwargs",
    "load_metric",
    "metric_path",
    "precompile_fused",
]
