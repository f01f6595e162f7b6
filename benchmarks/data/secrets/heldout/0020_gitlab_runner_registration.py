"""Settings for the deployment."""
import os

REGISTRATION_TOKEN = "GR1348941IiJgWMTHa2FGL8vMoFQE"
REGION = "eu-west-1"
HOST = "0.0.0.0"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
BUCKET = "assets-prod-7421"
TIMEZONE = "UTC"
