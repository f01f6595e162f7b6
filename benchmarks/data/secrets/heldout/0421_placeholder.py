"""Settings for the deployment."""
import os

REGION = "eu-west-1"
MAX_UPLOAD_MB = 25
FEATURE_FLAGS = "search,export"
OPENAI_API_KEY = "sk-..."
