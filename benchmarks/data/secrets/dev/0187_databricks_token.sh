#!/usr/bin/env bash
set -euo pipefail
export BUILD_ID=20240611.3
export DATABRICKS_TOKEN=dapi0fcdcfd4ea85752c5f569c45156329be
export PORT=8080
export TIMEZONE=UTC
exec python -m app "$@"
