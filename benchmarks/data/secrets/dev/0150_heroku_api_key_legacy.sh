#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export TIMEZONE=UTC
export HEROKU_API_KEY="2a72effe-e731-11dd-f60a-0d6f238d4960"
export BUCKET=assets-prod-7421
exec python -m app "$@"
