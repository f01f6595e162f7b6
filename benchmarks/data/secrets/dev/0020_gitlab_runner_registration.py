"""Settings for the deployment."""
import os

RETRIES = 3
LOCALE = "en_US"
APP_ENV = "production"
SENTRY_ENVIRONMENT = "prod"
REGISTRATION_TOKEN = "GR13489412_xcZ4aGxEdKXuHWdmLk"
