"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
LOCALE = "en_US"
HUBSPOT_ACCESS_TOKEN = "pat-na1-1083cdcd-135d-22e1-cb1c-864781001a00"
DEBUG = "false"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
FEATURE_FLAGS = "search,export"
