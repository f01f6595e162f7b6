"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
MAX_UPLOAD_MB = 25
PULUMI_ACCESS_TOKEN = "pul-08198a0416a359d42f2db4eca9f24026bf454d12"
BUCKET = "assets-prod-7421"
CACHE_TTL = 3600
