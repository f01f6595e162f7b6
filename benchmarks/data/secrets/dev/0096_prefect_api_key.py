"""Settings for the deployment."""
import os

RETRIES = 3
SENTRY_ENVIRONMENT = "prod"
FEATURE_FLAGS = "search,export"
BUILD_ID = "20240611.3"
APP_ENV = "production"
PREFECT_API_KEY = "pnu_eYDlLmyBSG0DbCJN66TEqMBkcYbqeNRsrEtW"
