"""Settings for the deployment."""
import os

DEBUG = "false"
LOG_LEVEL = "info"
DB_PASSWORD = "JPbI%7223Iiz"
TIMEZONE = "UTC"
