#!/usr/bin/env bash
set -euo pipefail
export REGION=eu-west-1
export LOG_LEVEL=info
export RETRIES=3
export PORT=8080
export APP_ENV="production"
export PREFECT_API_KEY=pnu_gSOZf9ZXD1Dambl7KsJVMJf6aUwxA4XX9XuF
exec python -m app "$@"
