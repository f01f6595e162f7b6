"""Settings for the deployment."""
import os

LOG_LEVEL = "info"
PULUMI_ACCESS_TOKEN = "pul-cfebad44f88df19fbf4e4f47a2b5dd9870fb28fc"
RETRIES = 3
REGION = "eu-west-1"
TIMEZONE = "UTC"
MAX_UPLOAD_MB = 25
