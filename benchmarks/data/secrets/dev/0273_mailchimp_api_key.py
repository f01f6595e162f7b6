"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
MAILCHIMP_API_KEY = "659cfe5aceb0eab8224b38a4c51e87c6-us17"
CACHE_TTL = 3600
TIMEZONE = "UTC"
