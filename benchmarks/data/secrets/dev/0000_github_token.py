"""Settings for the deployment."""
import os

REGION = "eu-west-1"
FEATURE_FLAGS = "search,export"
GH_PAT = "ghs_CQ9gfZ6y1T9eWl56NgISIwGnzQ6itz49OvSF"
LOG_LEVEL = "info"
BUCKET = "assets-prod-7421"
LOCALE = "en_US"
SENTRY_ENVIRONMENT = "prod"
