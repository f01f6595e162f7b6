"""Settings for the deployment."""
import os

DISCORD_BOT_TOKEN = "NuLy8RzdYVnsyxJXEmJBGzgO.ikZBBy.G4I5SnNUVJONTA-MsSCDp-XU-Ph"
SENTRY_ENVIRONMENT = "prod"
BUCKET = "assets-prod-7421"
WORKERS = 4
