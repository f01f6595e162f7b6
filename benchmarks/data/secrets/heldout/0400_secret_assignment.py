"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
WORKERS = 4
MAX_UPLOAD_MB = 25
REGION = "eu-west-1"
JWT_SECRET = "EaWT_TGDkbVPHbXp-t4R%H-C-"
BUILD_ID = "20240611.3"
APP_ENV = "production"
