#!/usr/bin/env bash
set -euo pipefail
export HOST=0.0.0.0
export BUCKET="assets-prod-7421"
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export POSTMAN_API_KEY="PMAK-7020db66ad31fd98c8c44025-1abed6c1bcec83595c8429d9d0f696093d"
export FEATURE_FLAGS="search,export"
exec python -m app "$@"
