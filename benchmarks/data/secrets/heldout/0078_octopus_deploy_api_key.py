"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
OCTOPUS_API_KEY = "API-ZWFC93WSXVXAHYTRD64RD5U139"
CACHE_TTL = 3600
MAX_UPLOAD_MB = 25
APP_ENV = "production"
DEBUG = "false"
REGION = "eu-west-1"
