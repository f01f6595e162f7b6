"""Settings for the deployment."""
import os

WORKERS = 4
DEBUG = "false"
PORT = 8080
ETAG = "\"33a64df551425fcc55e4d42a148795d9f25f89d4\""
