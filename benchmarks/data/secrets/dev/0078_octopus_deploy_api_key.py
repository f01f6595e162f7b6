"""Settings for the deployment."""
import os

RETRIES = 3
OCTOPUS_API_KEY = "API-M7S1GTRKJNTIKWNKDGIQSSLDRX"
MAX_UPLOAD_MB = 25
