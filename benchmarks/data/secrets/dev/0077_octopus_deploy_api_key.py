"""Settings for the deployment."""
import os

CACHE_TTL = 3600
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
HOST = "0.0.0.0"
OCTOPUS_API_KEY = "API-OAOYIQ9MIY4X4IBZ1WTJS5QZP3"
