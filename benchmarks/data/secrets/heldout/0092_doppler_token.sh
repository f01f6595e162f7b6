#!/usr/bin/env bash
set -euo pipefail
export LOCALE=en_US
export APP_ENV=production
export TIMEZONE=UTC
export DOPPLER_TOKEN="dp.pt.qYxCrZFKfJW5TLCsedWWWngv6iNxiIPazqE8PQ8Ti5d"
export BUCKET=assets-prod-7421
exec python -m app "$@"
