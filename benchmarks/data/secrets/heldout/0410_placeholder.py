"""Settings for the deployment."""
import os

COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
FEATURE_FLAGS = "search,export"
BUILD_ID = "20240611.3"
BROKER_URL = "amqp://guest:guest@localhost:5672//"
