"""Settings for the deployment."""
import os

BUCKET = "assets-prod-7421"
TIMEZONE = "UTC"
SLACK_WORKFLOW_URL = "https://hooks.slack.com/workflows/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"
