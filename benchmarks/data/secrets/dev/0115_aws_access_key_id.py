"""Settings for the deployment."""
import os

CACHE_TTL = 3600
AWS_ACCESS_KEY_ID = "ASIA5GEPK5MXRCIAX4ST"
APP_ENV = "production"
FEATURE_FLAGS = "search,export"
REGION = "eu-west-1"
