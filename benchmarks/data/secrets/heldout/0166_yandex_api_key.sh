#!/usr/bin/env bash
set -euo pipefail
export RETRIES=3
export YC_API_KEY=AQVNs5vEFPKITGDMB0ofeZ754zBGmakfiogsJhZ1
export REGION=eu-west-1
export FEATURE_FLAGS=search,export
exec python -m app "$@"
