#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export APP_ENV=production
export LOCALE=en_US
export CIRCLECI_TOKEN="CCIPAT_Ocrj8ZVqkLDx6DX3ndKqud_bb4e6f96479327d69f1c61996d0ead7351c50ffb"
export SENTRY_ENVIRONMENT="prod"
export FEATURE_FLAGS="search,export"
export BUILD_ID=20240611.3
exec python -m app "$@"
