"""Settings for the deployment."""
import os

GROQ_API_KEY = "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"
LOG_LEVEL = "info"
WORKERS = 4
MAX_UPLOAD_MB = 25
SENTRY_ENVIRONMENT = "prod"
