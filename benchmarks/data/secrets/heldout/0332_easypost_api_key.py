"""Settings for the deployment."""
import os

PORT = 8080
APP_ENV = "production"
EASYPOST_API_KEY = "EZAKkejravyw2uqzouf23o7psex4lvm11b6zn2y9kcdaufwymx3tfrf38l"
TIMEZONE = "UTC"
HOST = "0.0.0.0"
LOG_LEVEL = "info"
