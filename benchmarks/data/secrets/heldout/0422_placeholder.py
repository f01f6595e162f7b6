"""Settings for the deployment."""
import os

MAX_UPLOAD_MB = 25
FEATURE_FLAGS = "search,export"
CACHE_TTL = 3600
API_KEY = "xxx"
