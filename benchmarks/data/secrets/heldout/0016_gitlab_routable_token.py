"""Settings for the deployment."""
import os

MAX_UPLOAD_MB = 25
RUNNER_TOKEN = "glrt-t1_rI-flC0TyiWJBsh0mT7h_V7FiM2.01.4m4s1awa5"
FEATURE_FLAGS = "search,export"
WORKERS = 4
BUILD_ID = "20240611.3"
LOCALE = "en_US"
