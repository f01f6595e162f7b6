"""Settings for the deployment."""
import os

AUTH_TOKEN = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiRlZtdFlPdzh4cSIsICJpYXQiOiAxODExMDYyMDYyfQ.TP_pOUXfKcsXKsgqrFXJ6ADgrKUF09WdG_avc1hBfTT"
APP_ENV = "production"
FEATURE_FLAGS = "search,export"
