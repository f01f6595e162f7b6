"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
BUILD_ID = "20240611.3"
SLACK_BOT_TOKEN = "xoxb-346688462399-115242920520-qE5i4lPKVtmXllmsAbduHqKd"
