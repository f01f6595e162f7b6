"""Settings for the deployment."""
import os

DEBUG = "false"
DUFFEL_ACCESS_TOKEN = "duffel_live_s2Vp0WBdKkBvTf343T11z9kMtcKeefd9BK0zNIxlErl"
RETRIES = 3
