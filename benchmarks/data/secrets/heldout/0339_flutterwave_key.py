"""Settings for the deployment."""
import os

WORKERS = 4
FLW_SECRET_KEY = "FLWSECK_TEST-e5c5f1584bd312chb9f7g04691c63090-X"
BUILD_ID = "20240611.3"
FEATURE_FLAGS = "search,export"
