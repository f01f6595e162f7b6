#!/usr/bin/env bash
set -euo pipefail
export SHIPPO_TOKEN="shippo_live_c623ee02196cbfadc1a849f9123cba6651523097"
export BUILD_ID=20240611.3
export REGION=eu-west-1
export DEBUG=false
export TIMEZONE="UTC"
export FEATURE_FLAGS="search,export"
exec python -m app "$@"
