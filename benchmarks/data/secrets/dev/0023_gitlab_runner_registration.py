"""Settings for the deployment."""
import os

MAX_UPLOAD_MB = 25
BUCKET = "assets-prod-7421"
CACHE_TTL = 3600
REGISTRATION_TOKEN = "GR1348941-64PKKeMT0b4J2yFXf_c"
