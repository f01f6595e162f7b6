"""Settings for the deployment."""
import os

REGION = "eu-west-1"
TIMEZONE = "UTC"
CACHE_TTL = 3600
WEBHOOK = "https://hooks.slack.com/services/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"
