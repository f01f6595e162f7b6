#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL=3600
export PORT=8080
export NPM_TOKEN=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
export RETRIES=3
exec python -m app "$@"
