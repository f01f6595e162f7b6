"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
CLOUDFLARE_API_TOKEN = "pWIGHyqqyVhrp1lOgSaapl2w_ZDOvx8z1tGYAlRS"
