"""Settings for the deployment."""
import os

REGION = "eu-west-1"
WORKERS = 4
SENTRY_ENVIRONMENT = "prod"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
HOST = "0.0.0.0"
FB_ACCESS_TOKEN = "EAAB1uehwBhgw3UHLOfXsmuxmmaG1ALtpKiZNhlK0syjrd5F7e1fT4OAfv1QGIoI6LtEed9SxTAo6unkYMCGj0IYPOlEExFVGevivuYtRKFxdZRvgBANMjVC0UeN8HK0wMe9M3QHv5FEDLgMYMk5tHHFiT"
