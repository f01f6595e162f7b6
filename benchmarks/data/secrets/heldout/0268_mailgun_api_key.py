"""Settings for the deployment."""
import os

COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
FEATURE_FLAGS = "search,export"
DEBUG = "false"
TIMEZONE = "UTC"
BUCKET = "assets-prod-7421"
MAILGUN_API_KEY = "key-1147c6899e6952cd9e4dce9e973d582e"
