"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
DATADOG_API_KEY = "a0bf9bcae5a2b4a3e869329c0df519d7"
LOG_LEVEL = "info"
WORKERS = 4
REGION = "eu-west-1"
APP_ENV = "production"
