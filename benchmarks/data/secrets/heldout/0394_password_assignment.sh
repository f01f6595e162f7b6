#!/usr/bin/env bash
set -euo pipefail
export APP_ENV=production
export SENTRY_ENVIRONMENT="prod"
export CACHE_TTL=3600
export MAX_UPLOAD_MB=25
export WORKERS="4"
export BUCKET=assets-prod-7421
export MYSQL_ROOT_PASSWORD="o9N40_897268GSv"
exec python -m app "$@"
