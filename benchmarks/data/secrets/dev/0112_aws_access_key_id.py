"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
TIMEZONE = "UTC"
AWS_ACCESS_KEY_ID = "AKIA2VOVVWXJUVFQVRSJ"
FEATURE_FLAGS = "search,export"
LOG_LEVEL = "info"
WORKERS = 4
