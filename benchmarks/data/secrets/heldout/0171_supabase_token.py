"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
LOCALE = "en_US"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
SUPABASE_ACCESS_TOKEN = "sbp_717a96be66338dd974887031a43ea8279d955975"
