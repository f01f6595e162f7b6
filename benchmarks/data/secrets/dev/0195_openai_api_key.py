"""Settings for the deployment."""
import os

OPENAI_API_KEY = "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"
APP_ENV = "production"
SENTRY_ENVIRONMENT = "prod"
