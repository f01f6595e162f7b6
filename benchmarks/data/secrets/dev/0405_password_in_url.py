"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
MONGO_URI = "postgresql://svc_api:fm0Kvq0msVk5gwE1@uazfoz.internal:5432/ruulp"
TIMEZONE = "UTC"
FEATURE_FLAGS = "search,export"
