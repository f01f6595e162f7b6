"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
SENTRY_ENVIRONMENT = "prod"
FB_ACCESS_TOKEN = "EAABRuyRenaQv5IDoxo0IpwYsWOPpROYuOBu7FpkfmdWZobePXw8xVDsfXL4q3r82NU3wddCMbQVwUKLXwacAYog5bb1cZ6yDIZ4QhUWAUOotBjxvoA7lo0i5DJ56ZSukCtIejksGfP5Iyi8kpc3NpNhix"
MAX_UPLOAD_MB = 25
