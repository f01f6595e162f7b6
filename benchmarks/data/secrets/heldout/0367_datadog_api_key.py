"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
DATADOG_API_KEY = "3f2e431d75f5e38c33d2b6de8e1ea1d6"
SENTRY_ENVIRONMENT = "prod"
RETRIES = 3
BUCKET = "assets-prod-7421"
