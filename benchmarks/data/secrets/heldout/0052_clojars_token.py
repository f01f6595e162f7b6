"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
MAX_UPLOAD_MB = 25
BUCKET = "assets-prod-7421"
RETRIES = 3
CLOJARS_PASSWORD = "CLOJARS_11rljdvwyeuljh8n4ow7kntkiz15wc8ebxpjnz26r1v4vfdi94lfaeblrm3z"
SENTRY_ENVIRONMENT = "prod"
REGION = "eu-west-1"
