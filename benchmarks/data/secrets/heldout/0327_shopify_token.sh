#!/usr/bin/env bash
set -euo pipefail
export PORT=8080
export APP_ENV=production
export SHOPIFY_ACCESS_TOKEN=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
export HOST="0.0.0.0"
export BUILD_ID=20240611.3
exec python -m app "$@"
