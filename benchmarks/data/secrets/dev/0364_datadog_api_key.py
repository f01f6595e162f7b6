"""Settings for the deployment."""
import os

WORKERS = 4
RETRIES = 3
CACHE_TTL = 3600
REGION = "eu-west-1"
DATADOG_API_KEY = "b10a1081346f6dd0e37d8a66988eb953"
HOST = "0.0.0.0"
DEBUG = "false"
