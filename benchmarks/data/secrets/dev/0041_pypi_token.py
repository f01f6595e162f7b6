"""Settings for the deployment."""
import os

TWINE_PASSWORD = "pypi-AgEIcHlwaS5vcmczmeY3bhVR8rh3m6GYg6ICZNgAbXWuiBCCVney-utL3ODWBitaxZoXW-T0dAG3ERK1nqYHrRoj_9qiJ6UNhz51U1QOOX9lM2hjOtJBFBRP0x9DoRKycGa0DGzQm0zH5SQaVL8ki"
DEBUG = "false"
HOST = "0.0.0.0"
SENTRY_ENVIRONMENT = "prod"
APP_ENV = "production"
