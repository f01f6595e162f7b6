"""Settings for the deployment."""
import os

BUCKET = "assets-prod-7421"
LOG_LEVEL = "info"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
OCTOPUS_API_KEY = "API-MUGAOMYMTTXOBPRTLHAWJY53HO"
WORKERS = 4
PORT = 8080
RETRIES = 3
