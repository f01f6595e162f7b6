"""Settings for the deployment."""
import os

WORKERS = 4
TWILIO_API_KEY = "SK261a23ab852b1d7d5b85570776e4bcd0"
PORT = 8080
MAX_UPLOAD_MB = 25
REGION = "eu-west-1"
RETRIES = 3
APP_ENV = "production"
