"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
PORT = 8080
FEATURE_FLAGS = "search,export"
SHIPPO_TOKEN = "shippo_live_2c03db3134199303c9db88012ef4dc9f43b35845"
SENTRY_ENVIRONMENT = "prod"
