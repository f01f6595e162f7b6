#!/usr/bin/env bash
set -euo pipefail
export APP_ENV=production
export RUNNER_TOKEN=glpat-KNnUwSQcofeXlv1FQCyJJQ1m1S2.01.jm5fsnx3o
export RETRIES="3"
export BUCKET="assets-prod-7421"
export CACHE_TTL=3600
export TIMEZONE=UTC
exec python -m app "$@"
