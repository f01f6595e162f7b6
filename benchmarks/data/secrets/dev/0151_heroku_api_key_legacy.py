"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
HEROKU_API_KEY = "91874c5a-71bc-d072-b5f3-3fbf055e6f4d"
LOG_LEVEL = "info"
HOST = "0.0.0.0"
TIMEZONE = "UTC"
