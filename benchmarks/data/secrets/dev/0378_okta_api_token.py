"""Settings for the deployment."""
import os

LOCALE = "en_US"
APP_ENV = "production"
RETRIES = 3
HOST = "0.0.0.0"
OKTA_API_TOKEN = "00dNsyDJcrampN6mOrBPyEzh-xV8ATRyVN3ZJq2lph"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
CACHE_TTL = 3600
