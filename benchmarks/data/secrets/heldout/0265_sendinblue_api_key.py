"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
BREVO_API_KEY = "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"
HOST = "0.0.0.0"
REGION = "eu-west-1"
TIMEZONE = "UTC"
RETRIES = 3
