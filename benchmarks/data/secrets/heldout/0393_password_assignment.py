"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
LOG_LEVEL = "info"
FEATURE_FLAGS = "search,export"
REGION = "eu-west-1"
PASSWORD = "7EfNud_622591bVR"
DEBUG = "false"
