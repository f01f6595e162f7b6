"""Settings for the deployment."""
import os

DEBUG = "false"
APP_ENV = "production"
TIMEZONE = "UTC"
SUPABASE_ACCESS_TOKEN = "sbp_e3a196672802149c3d7e1595870be031a3bfcc88"
PORT = 8080
SENTRY_ENVIRONMENT = "prod"
