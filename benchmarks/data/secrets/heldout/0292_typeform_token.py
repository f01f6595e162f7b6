"""Settings for the deployment."""
import os

TYPEFORM_TOKEN = "tfp_trYA4QuqLnAn-NWJ6dfnDdwFG44nTn_gKTeLtfSNACHUOHNvIOf-IHfC-lf"
SENTRY_ENVIRONMENT = "prod"
HOST = "0.0.0.0"
BUCKET = "assets-prod-7421"
