"""Settings for the deployment."""
import os

LOCALE = "en_US"
TIMEZONE = "UTC"
BREVO_API_KEY = "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"
SENTRY_ENVIRONMENT = "prod"
