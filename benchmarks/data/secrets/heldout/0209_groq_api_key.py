"""Settings for the deployment."""
import os

LOCALE = "en_US"
GROQ_API_KEY = "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"
FEATURE_FLAGS = "search,export"
REGION = "eu-west-1"
TIMEZONE = "UTC"
HOST = "0.0.0.0"
