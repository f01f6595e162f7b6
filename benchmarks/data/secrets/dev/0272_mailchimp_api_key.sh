#!/usr/bin/env bash
set -euo pipefail
export APP_ENV=production
export MAILCHIMP_API_KEY="aca4a51bf934c7a405a18cc9f5eaf765-us4"
export BUCKET=assets-prod-7421
export WORKERS="4"
export REGION=eu-west-1
export MAX_UPLOAD_MB=25
export FEATURE_FLAGS="search,export"
exec python -m app "$@"
