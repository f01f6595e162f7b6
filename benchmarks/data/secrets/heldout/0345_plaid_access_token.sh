#!/usr/bin/env bash
set -euo pipefail
export PORT=8080
export MAX_UPLOAD_MB="25"
export FEATURE_FLAGS=search,export
export REGION=eu-west-1
export TIMEZONE=UTC
export PLAID_ACCESS_TOKEN="access-production-6cb98e50-fd5d-ae2a-afde-68b884799218"
export CACHE_TTL="3600"
exec python -m app "$@"
