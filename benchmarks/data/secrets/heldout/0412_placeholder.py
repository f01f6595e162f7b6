"""Settings for the deployment."""
import os

APP_ENV = "production"
HOST = "0.0.0.0"
RETRIES = 3
REDIS_URL = "redis://username:password@redis-host:6379/0"
