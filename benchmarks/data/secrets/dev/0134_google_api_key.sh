#!/usr/bin/env bash
set -euo pipefail
export REGION=eu-west-1
export DEBUG=false
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export PORT=8080
export HOST=0.0.0.0
export GOOGLE_API_KEY=AIzatFQ5LrR0rE40Wt77etBcJfLW14emNA-HCTG
exec python -m app "$@"
