"""Settings for the deployment."""
import os

REGION = "eu-west-1"
SENTRY_ENVIRONMENT = "prod"
FEATURE_FLAGS = "search,export"
CLOUDFLARE_API_TOKEN = "1WAUEHYSniEGjKHrZJ_GqiO4oXcaJcZNT-bfvK_N"
