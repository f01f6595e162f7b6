"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
SHIPPO_TOKEN = "shippo_live_d53cdbb288405aa53e4e8d9d6b06385cc50f662c"
LOCALE = "en_US"
REGION = "eu-west-1"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
SENTRY_ENVIRONMENT = "prod"
FEATURE_FLAGS = "search,export"
