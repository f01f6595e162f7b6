#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL=3600
export REGION=eu-west-1
export HOST=0.0.0.0
export DB_PASSWORD=${DB_PASSWORD}
exec python -m app "$@"
