"""Settings for the deployment."""
import os

LOCALE = "en_US"
TELEGRAM_BOT_TOKEN = "672421252:AAPvSWst1vAV7YFnWVSBcaIK68NKw2XSYxa"
BUILD_ID = "20240611.3"
