"""Settings for the deployment."""
import os

BUILD_ID = "20240611.3"
RETRIES = 3
NUGET_API_KEY = "oy2yos5z9a1s5jz1zt49xt0kwc122teovoybvjl5eglcol"
