"""Settings for the deployment."""
import os

REGION = "eu-west-1"
MAX_UPLOAD_MB = 25
BUILD_ID = "20240611.3"
SENTRY_ENVIRONMENT = "prod"
JIRA_API_TOKEN = "ATATT3Gb2sGN1PhjW9GbLxP5l-yO9NTxZVg1k-br_NBsiH4mMdjif0SQgY0HT0ij9ni_b-v8erWX5TH=pRbo-9qPQRgcLGWOcZ=n2pACncKcjriwCPqsROgSFsJLNmofiGuDKRzveMqjBpOtQizL81ymcmRGOWeb3jCgih8QzNvIu=Dn5QTJSb9qulUTw4zP"
RETRIES = 3
HOST = "0.0.0.0"
