"""Settings for the deployment."""
import os

REGION = "eu-west-1"
BUCKET = "assets-prod-7421"
STRIPE_KEY = "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"
MAX_UPLOAD_MB = 25
CACHE_TTL = 3600
HOST = "0.0.0.0"
