#!/usr/bin/env bash
set -euo pipefail
export REGION="eu-west-1"
export CACHE_TTL="3600"
export APP_ENV=production
export DEBUG="false"
export GOOGLE_CLIENT_SECRET="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"
exec python -m app "$@"
