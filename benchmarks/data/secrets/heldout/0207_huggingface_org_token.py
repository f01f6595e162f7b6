"""Settings for the deployment."""
import os

LOG_LEVEL = "info"
HF_ORG_TOKEN = "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"
RETRIES = 3
FEATURE_FLAGS = "search,export"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
