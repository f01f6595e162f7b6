"""Settings for the deployment."""
import os

SENTRY_ENVIRONMENT = "prod"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
BREVO_API_KEY = "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"
WORKERS = 4
RETRIES = 3
CACHE_TTL = 3600
LOCALE = "en_US"
