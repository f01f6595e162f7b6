#!/usr/bin/env bash
set -euo pipefail
export FLW_SECRET_KEY="FLWSECK_TEST-b32d160h22gb0e979dc6038430152cdh-X"
export HOST="0.0.0.0"
export CACHE_TTL=3600
export BUCKET="assets-prod-7421"
exec python -m app "$@"
