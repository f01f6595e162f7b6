"""Settings for the deployment."""
import os

CACHE_TTL = 3600
OPENAI_API_KEY = "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"
BUCKET = "assets-prod-7421"
LOG_LEVEL = "info"
