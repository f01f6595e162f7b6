"""Settings for the deployment."""
import os

COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
DEBUG = "false"
APP_ENV = "production"
CIRCLECI_TOKEN = "CCIPAT_3tDWVKFjR8dAyznoK2Jvjk_ae2c8e90c0e349a94fe0a4d09552de4da4b52273"
