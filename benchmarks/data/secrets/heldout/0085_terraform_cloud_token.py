"""Settings for the deployment."""
import os

CACHE_TTL = 3600
LOCALE = "en_US"
TFE_TOKEN = "5PtY12Rn78Bxh2.atlasv1.pNf2gQ7vgPLsz4u14-wDG_pdNCsJW8PdS6JVj8uXdFl46kfBm8TZZXnJgVymX6yLttd"
