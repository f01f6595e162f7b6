"""Settings for the deployment."""
import os

APP_ENV = "production"
FEATURE_FLAGS = "search,export"
DOCKERHUB_TOKEN = "dckr_pat_We_J1ybgAkEhKXg53nMmG9WgaQF"
BUILD_ID = "20240611.3"
BUCKET = "assets-prod-7421"
DEBUG = "false"
