"""Settings for the deployment."""
import os

GITLAB_TOKEN = "glpat-UQekqHE91S_KTt0E7x6G"
COMMIT_SHA = "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
REGION = "eu-west-1"
