#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL="3600"
export PORT=8080
export TIMEZONE=UTC
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
exec python -m app "$@"
