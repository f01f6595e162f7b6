"""Settings for the deployment."""
import os

LOCALE = "en_US"
WORKERS = 4
SQUARE_ACCESS_TOKEN = "EAAAkM5kL0RmWcxOJQ1o-1CAfZoIosO4hY_2e8DASvBNMVCla_ehPoG0N8dffgPt"
FEATURE_FLAGS = "search,export"
MAX_UPLOAD_MB = 25
