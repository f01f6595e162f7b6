#!/usr/bin/env bash
set -euo pipefail
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export BUILD_ID=20240611.3
export HOST=0.0.0.0
export SENTRY_ENVIRONMENT=prod
export DATABRICKS_TOKEN="dapic6293638b4826a0bd2610e970ce5e104"
exec python -m app "$@"
