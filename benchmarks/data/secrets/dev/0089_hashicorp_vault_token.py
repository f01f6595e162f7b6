"""Settings for the deployment."""
import os

WORKERS = 4
CACHE_TTL = 3600
FEATURE_FLAGS = "search,export"
SENTRY_ENVIRONMENT = "prod"
RETRIES = 3
VAULT_TOKEN = "hvs.INFuTVt71rmlp2V5R7R0toPDStpaPluGM4dC68IeJaaZtvAmjBrHsV0K3S68oBvCK7_AfHNwM0Q9mxAEbVW7W5YBF8_xi6r"
BUCKET = "assets-prod-7421"
