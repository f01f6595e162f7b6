"""Settings for the deployment."""
import os

STRIPE_WEBHOOK_SECRET = "whsec_pf3TfkrlxYLW12GkQCOOdaa1YpQfTyqR"
APP_ENV = "production"
TIMEZONE = "UTC"
