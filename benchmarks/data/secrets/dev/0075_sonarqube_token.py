"""Settings for the deployment."""
import os

REGION = "eu-west-1"
APP_ENV = "production"
TIMEZONE = "UTC"
DEBUG = "false"
SONAR_TOKEN = "sqp_b846543a35b8e8e5cdb3a485ae2bb8b4d665ed70"
