"""Settings for the deployment."""
import os

SENTRY_ENVIRONMENT = "prod"
APP_ENV = "production"
LOG_LEVEL = "info"
PASSWORD_FILE = "/run/secrets/db_password"
