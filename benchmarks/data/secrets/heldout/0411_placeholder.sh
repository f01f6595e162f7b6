#!/usr/bin/env bash
set -euo pipefail
export BUILD_ID=20240611.3
export FEATURE_FLAGS=search,export
export PORT=8080
export BROKER_URL="amqp://guest:guest@localhost:5672//"
exec python -m app "$@"
