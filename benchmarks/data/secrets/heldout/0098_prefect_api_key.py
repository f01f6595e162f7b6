"""Settings for the deployment."""
import os

PORT = 8080
RETRIES = 3
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
PREFECT_API_KEY = "pnu_yX5bM61KA0bCPD5ZHXXj10mI2YhoGvUfoAdP"
FEATURE_FLAGS = "search,export"
LOCALE = "en_US"
