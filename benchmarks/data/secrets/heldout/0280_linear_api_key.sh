#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL="3600"
export DEBUG=false
export LINEAR_API_KEY=lin_api_IEsFE2DLbkxafjY6mLsoqGZi2OXEYu5BTgNoQGbU
export PORT=8080
export FEATURE_FLAGS="search,export"
export RETRIES=3
export APP_ENV=production
exec python -m app "$@"
