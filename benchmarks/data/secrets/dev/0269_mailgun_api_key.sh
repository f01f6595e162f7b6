#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB="25"
export CACHE_TTL=3600
export FEATURE_FLAGS=search,export
export LOCALE=en_US
export SENTRY_ENVIRONMENT=prod
export BUCKET=assets-prod-7421
export MAILGUN_API_KEY="key-1b336afa0469b83b0e8293be02d50aef"
exec python -m app "$@"
