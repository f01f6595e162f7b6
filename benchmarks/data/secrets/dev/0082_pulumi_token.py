"""Settings for the deployment."""
import os

HOST = "0.0.0.0"
PULUMI_ACCESS_TOKEN = "pul-0011d9ea0c3d81a11b30316d83353477f8c61f27"
LOCALE = "en_US"
LOG_LEVEL = "info"
