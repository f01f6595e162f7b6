"""Settings for the deployment."""
import os

HUGGINGFACE_API = "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"
MAX_UPLOAD_MB = 25
CACHE_TTL = 3600
