"""Settings for the deployment."""
import os

APP_ENV = "production"
RETRIES = 3
HOST = "0.0.0.0"
BUILD_ID = "20240611.3"
BUCKET = "assets-prod-7421"
NEW_RELIC_API_KEY = "NRAK-8TONE3WUXJTAXKIODMHXFI96A9H"
LOCALE = "en_US"
