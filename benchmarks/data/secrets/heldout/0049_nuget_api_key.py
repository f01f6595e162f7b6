"""Settings for the deployment."""
import os

BUCKET = "assets-prod-7421"
LOG_LEVEL = "info"
APP_ENV = "production"
NUGET_API_KEY = "oy2t2p5yb6qhsqbfu6losfk3xz24g5fcdbrcrtl84vb3vp"
