#!/usr/bin/env bash
set -euo pipefail
export DOPPLER_TOKEN="dp.pt.83vGsvygtlueBxMizaBaqbljjPGF3VaiTpNfdLop5ql"
export FEATURE_FLAGS=search,export
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export HOST=0.0.0.0
export CACHE_TTL="3600"
export LOG_LEVEL=info
export BUCKET="assets-prod-7421"
exec python -m app "$@"
