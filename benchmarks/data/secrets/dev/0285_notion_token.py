"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
NOTION_TOKEN = "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"
LOCALE = "en_US"
BUCKET = "assets-prod-7421"
