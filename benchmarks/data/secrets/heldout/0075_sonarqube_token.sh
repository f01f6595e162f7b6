#!/usr/bin/env bash
set -euo pipefail
export HOST="0.0.0.0"
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export SONAR_TOKEN=sqp_48378ff624907557e306b583297c949493936ec3
exec python -m app "$@"
