"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
SENTRY_ENVIRONMENT = "prod"
LOG_LEVEL = "info"
MAPBOX_SECRET_TOKEN = "sk.eyJ1IjoiGKUVVA4QbBq4BnPD5M7Jj4sln07SwrBKibHOS58QCwzoDpB3qV0LbxnOYNyX.ijgM8dZUE6cH6g2pDoFUxF"
DEBUG = "false"
