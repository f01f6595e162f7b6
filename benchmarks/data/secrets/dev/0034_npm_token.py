"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
NPM_TOKEN = "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"
PORT = 8080
BUCKET = "assets-prod-7421"
APP_ENV = "production"
