"""Settings for the deployment."""
import os

BUCKET = "assets-prod-7421"
REPLICATE_API_TOKEN = "r8_jSaMnS8xmF3YTB18oDGBG2JoBSLDnOguJzds4"
FEATURE_FLAGS = "search,export"
