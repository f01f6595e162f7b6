#!/usr/bin/env bash
set -euo pipefail
export RETRIES=3
export PORT=8080
export FEATURE_FLAGS=search,export
export SECRET_KEY="changeme"
exec python -m app "$@"
