"""Green/red-list LLM watermarking (Kirchenbauer et al. 2023): config, logits processor, detector.

``WatermarkConfig`` holds the settings and the secret key, ``WatermarkLogitsProcessor`` biases generation,
``WatermarkDetector`` scores token ids or texts with no model. ``generate`` is a one-call helper for UIs.
"""

from hf_addons.watermark.config import MissingKeyError, WatermarkConfig
from hf_addons.watermark.detector import DetectionResult, WatermarkDetector
from hf_addons.watermark.generation import generate
from hf_addons.watermark.processor import WatermarkLogitsProcessor, precompile_fused

__all__ = [
    "DetectionResult",
    "MissingKeyError",
    "WatermarkConfig",
    "WatermarkDetector",
    "WatermarkLogitsProcessor",
    "generate",
    "precompile_fused",
]
