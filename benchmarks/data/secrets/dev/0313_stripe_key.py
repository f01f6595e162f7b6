"""Settings for the deployment."""
import os

MAX_UPLOAD_MB = 25
STRIPE_SECRET_KEY = "rk_live_xoMBFZ1Dt8k0iT0woec9cqGs"
BUCKET = "assets-prod-7421"
LOCALE = "en_US"
