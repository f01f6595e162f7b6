#!/usr/bin/env bash
set -euo pipefail
export LOG_LEVEL="info"
export REGION=eu-west-1
export CACHE_TTL="3600"
export BUILDKITE_API_TOKEN="bkua_14e5e448c232cfb61d7f6576a9f769301a25e2d4"
export SENTRY_ENVIRONMENT=prod
export BUCKET=assets-prod-7421
export LOCALE=en_US
exec python -m app "$@"
