"""Settings for the deployment."""
import os

DATADOG_API_KEY = "a5e78e0ff3cec215c13da5a74ebe0873"
PORT = 8080
FEATURE_FLAGS = "search,export"
RETRIES = 3
WORKERS = 4
