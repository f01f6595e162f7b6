"""Settings for the deployment."""
import os

SCALINGO_API_TOKEN = "tk-us-X7EE4ccdzAe8bxt_KE-fPZ7QmOHqFjRIow7kJN8tbCMwYq26"
MAX_UPLOAD_MB = 25
HOST = "0.0.0.0"
BUCKET = "assets-prod-7421"
TIMEZONE = "UTC"
