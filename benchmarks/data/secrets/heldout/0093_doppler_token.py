"""Settings for the deployment."""
import os

TIMEZONE = "UTC"
HOST = "0.0.0.0"
DOPPLER_TOKEN = "dp.pt.zvsBPpe4VXcTF93D9h8UKIDXeP24n6ptC0CA7e5d0dx"
PORT = 8080
LOG_LEVEL = "info"
WORKERS = 4
