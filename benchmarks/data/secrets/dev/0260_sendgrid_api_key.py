"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
SENTRY_ENVIRONMENT = "prod"
SENDGRID_API_KEY = "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"
PORT = 8080
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
