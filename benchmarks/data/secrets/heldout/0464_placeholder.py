"""Settings for the deployment."""
import os

RETRIES = 3
CACHE_TTL = 3600
HOST = "0.0.0.0"
SECRET_NAME = "prod/app/database"
