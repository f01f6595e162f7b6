"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
BUCKET = "assets-prod-7421"
LOCALE = "en_US"
NUGET_API_KEY = "oy2jlofzclua387kc1oq72mcy0z61r2vbf40k1k8666lr0"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
TIMEZONE = "UTC"
