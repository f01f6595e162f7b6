"""Settings for the deployment."""
import os

CLIENT_SECRET = "l7R3Q~vBlk.iSa7EiOLGI~R_7xcG1VGl6FT.YaUb"
APP_ENV = "production"
HOST = "0.0.0.0"
SENTRY_ENVIRONMENT = "prod"
