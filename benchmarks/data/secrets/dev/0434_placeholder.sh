#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export DEBUG=false
export BUILD_ID=20240611.3
export SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
exec python -m app "$@"
