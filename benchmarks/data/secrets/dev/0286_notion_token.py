"""Settings for the deployment."""
import os

DEBUG = "false"
BUILD_ID = "20240611.3"
RETRIES = 3
APP_ENV = "production"
NOTION_TOKEN = "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"
LOCALE = "en_US"
BUCKET = "assets-prod-7421"
