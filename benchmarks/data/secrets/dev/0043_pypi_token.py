"""Settings for the deployment."""
import os

WORKERS = 4
PYPI_API_TOKEN = "pypi-AgEIcHlwaS5vcmcvcLKLCqMeCFMnLyQZjlUXcRQdh-mSiaKR0XZCs9QiKjcASaA1QS_FocW6o4djYMs_itkbkyIWwOMR6S2hYWIh4pwGsxxQTEn41a7ayLMzP7VEZdeMw0IbZb_L"
REGION = "eu-west-1"
FEATURE_FLAGS = "search,export"
