#!/usr/bin/env bash
set -euo pipefail
export SENTRY_ENVIRONMENT=prod
export BUILD_ID=20240611.3
export PLAID_ACCESS_TOKEN=access-production-7ac33fef-824d-6d4e-d739-dd11e1bffc93
export RETRIES=3
export HOST="0.0.0.0"
exec python -m app "$@"
