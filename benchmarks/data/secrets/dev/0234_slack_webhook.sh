#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export LOG_LEVEL="info"
export HOST=0.0.0.0
export BUILD_ID=20240611.3
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export WEBHOOK=https://hooks.slack.com/services/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
export TIMEZONE="UTC"
exec python -m app "$@"
