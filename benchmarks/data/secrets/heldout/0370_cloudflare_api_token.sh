#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export CLOUDFLARE_API_TOKEN="5lUFvowuYAK27Yr4FSeAQFRZ7CTxBgJNjJq1Iy6V"
export RETRIES="3"
exec python -m app "$@"
