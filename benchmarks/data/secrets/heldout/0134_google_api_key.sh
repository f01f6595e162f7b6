#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL="3600"
export MAPS_KEY="AIzadhsyoG6ZO7Txwaore-7zA7t9rH4y8_kH7dL"
export LOCALE=en_US
export WORKERS=4
export REGION=eu-west-1
exec python -m app "$@"
