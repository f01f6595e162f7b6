"""Settings for the deployment."""
import os

CF_API_TOKEN = "gEaSA01sd4gbJ1pWRSzyFDu-1Uj0nRTQHsrKI9BT"
BUCKET = "assets-prod-7421"
BUILD_ID = "20240611.3"
RETRIES = 3
APP_ENV = "production"
