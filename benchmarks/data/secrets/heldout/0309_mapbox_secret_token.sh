#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL="3600"
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export MAPBOX_SECRET_TOKEN=sk.eyJ1IjoihrLi12A1_I9ETZvYzgPqpvVwgapvYMXH0Kgb_jJqaUqfZf4xuFFRo8Gv21BN.QCSw0nFLWeXg17nLrnPOsw
export SENTRY_ENVIRONMENT="prod"
export LOG_LEVEL="info"
export DEBUG=false
exec python -m app "$@"
