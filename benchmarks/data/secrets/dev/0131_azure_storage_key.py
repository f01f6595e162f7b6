"""Settings for the deployment."""
import os

REGION = "eu-west-1"
MAX_UPLOAD_MB = 25
LOG_LEVEL = "info"
PORT = 8080
AZURE_STORAGE_CONNECTION_STRING = "DefaultEndpointsProtocol=https;AccountName=lbbxtflfzo;AccountKey=l9omMuW/E63ivYAvfOaxnVD1v6W0lYisow1OwaEa+rdf+9fORTioQFwVw7Fg7vnx3I18mfC1l59xqsQsn6SanK==;EndpointSuffix=core.windows.net"
CACHE_TTL = 3600
