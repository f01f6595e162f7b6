"""Settings for the deployment."""
import os

TELNYX_API_KEY = "KEY1D5706331AA92C507DAA966C39F2FA7B_zOBPFB0LUniJgLx4fKX4xh"
BUCKET = "assets-prod-7421"
REGION = "eu-west-1"
BUILD_ID = "20240611.3"
