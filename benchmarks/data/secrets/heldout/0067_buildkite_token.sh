#!/usr/bin/env bash
set -euo pipefail
export FEATURE_FLAGS="search,export"
export LOG_LEVEL="info"
export SENTRY_ENVIRONMENT=prod
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export BUILDKITE_API_TOKEN=bkua_e2db553b5f2ed6228acbad26dbfb3ea079d46815
export REGION=eu-west-1
export LOCALE=en_US
exec python -m app "$@"
