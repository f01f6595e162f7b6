"""Settings for the deployment."""
import os

LOG_LEVEL = "info"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
AZURE_CLIENT_SECRET = "xRN1Q~req9yYdyJ__C4ZAZdnVL_yyWDHJM~MJayp"
MAX_UPLOAD_MB = 25
LOCALE = "en_US"
