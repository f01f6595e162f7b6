"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
BUCKET = "assets-prod-7421"
PERPLEXITY_API_KEY = "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"
