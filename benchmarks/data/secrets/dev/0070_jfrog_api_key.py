"""Settings for the deployment."""
import os

RETRIES = 3
LOCALE = "en_US"
SENTRY_ENVIRONMENT = "prod"
TIMEZONE = "UTC"
DEBUG = "false"
ARTIFACTORY_API_KEY = "AKCpUposoSBEdRo8YNKu6cAK3AKkr6DFXxDqO3OfQTkyXvpiUpxsf7ng01xDPIvN9OGIGCmjF"
APP_ENV = "production"
