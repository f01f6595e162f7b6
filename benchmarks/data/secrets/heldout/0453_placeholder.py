"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
BUCKET = "assets-prod-7421"
LOCALE = "en_US"
MONGO_URI = "mongodb://root:example@mongo:27017/"
