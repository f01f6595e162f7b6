#!/usr/bin/env bash
set -euo pipefail
export HUGGING_FACE_HUB_TOKEN="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"
export CACHE_TTL=3600
export TIMEZONE=UTC
export RETRIES=3
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
exec python -m app "$@"
