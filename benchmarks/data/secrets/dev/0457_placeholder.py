"""Settings for the deployment."""
import os

DEBUG = "false"
REGION = "eu-west-1"
CACHE_TTL = 3600
ETAG = "\"33a64df551425fcc55e4d42a148795d9f25f89d4\""
