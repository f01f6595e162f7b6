#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export BUCKET="assets-prod-7421"
export LOCALE="en_US"
export LINEAR_API_KEY=lin_api_bQMvzFZXlLuiUBsXuIGCMiEQHEBxmaUJUohX45cX
export WORKERS="4"
export TIMEZONE=UTC
exec python -m app "$@"
