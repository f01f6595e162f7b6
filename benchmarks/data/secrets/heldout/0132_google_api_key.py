"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
REGION = "eu-west-1"
GOOGLE_API_KEY = "AIzaUpbf9ki9cUIf6RwVCMHEH-7D-hkjw9PLnw3"
LOG_LEVEL = "info"
