#!/usr/bin/env bash
set -euo pipefail
export NODE_AUTH_TOKEN="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"
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export RETRIES=3
export CACHE_TTL=3600
export DEBUG=false
export BUCKET="assets-prod-7421"
export APP_ENV=production
exec python -m app "$@"
