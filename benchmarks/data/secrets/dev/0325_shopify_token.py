"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
SHOPIFY_ACCESS_TOKEN = "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"
PORT = 8080
