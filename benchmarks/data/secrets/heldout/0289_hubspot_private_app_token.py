"""Settings for the deployment."""
import os

RETRIES = 3
TIMEZONE = "UTC"
HUBSPOT_ACCESS_TOKEN = "pat-na1-06f8065e-bd7e-714e-4a75-b8335048e84c"
MAX_UPLOAD_MB = 25
PORT = 8080
BUILD_ID = "20240611.3"
BUCKET = "assets-prod-7421"
