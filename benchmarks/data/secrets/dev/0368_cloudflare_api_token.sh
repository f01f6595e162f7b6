#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL=3600
export FEATURE_FLAGS="search,export"
export CF_API_TOKEN="ll7SgBUjv5Trwnw3igkTLHvptl-ZU6gDXDrxH6mO"
export SENTRY_ENVIRONMENT="prod"
export MAX_UPLOAD_MB=25
export LOG_LEVEL=info
exec python -m app "$@"
