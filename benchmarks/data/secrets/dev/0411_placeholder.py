"""Settings for the deployment."""
import os

FEATURE_FLAGS = "search,export"
LOCALE = "en_US"
HOST = "0.0.0.0"
BROKER_URL = "amqp://guest:guest@localhost:5672//"
