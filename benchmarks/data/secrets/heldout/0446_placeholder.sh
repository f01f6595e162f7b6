#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export CACHE_TTL=3600
export HOST="0.0.0.0"
export TOKEN=YOUR_TOKEN_HERE
exec python -m app "$@"
