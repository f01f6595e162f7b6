"""Settings for the deployment."""
import os

PORT = 8080
APP_ENV = "production"
CACHE_TTL = 3600
TOKEN_TYPE = "Bearer"
