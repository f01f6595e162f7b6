#!/usr/bin/env bash
set -euo pipefail
export HOST=0.0.0.0
export BUILD_ID=20240611.3
export MAILGUN_API_KEY=key-4b4cdde4bf4586c495307557ef5376ba
export CACHE_TTL=3600
export RETRIES=3
export TIMEZONE=UTC
export PORT=8080
exec python -m app "$@"
