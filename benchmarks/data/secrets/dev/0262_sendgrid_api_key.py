"""Settings for the deployment."""
import os

SENDGRID_API_KEY = "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"
BUILD_ID = "20240611.3"
LOCALE = "en_US"
TIMEZONE = "UTC"
RETRIES = 3
APP_ENV = "production"
LOG_LEVEL = "info"
