"""Settings for the deployment."""
import os

SLACK_TOKEN = "xoxp-365827681312-927637742267-dNtFWes1XS8mITrsAa7Gu49l"
LOCALE = "en_US"
BUILD_ID = "20240611.3"
