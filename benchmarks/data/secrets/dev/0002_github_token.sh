#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL=3600
export LOG_LEVEL="info"
export GH_PAT=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
export FEATURE_FLAGS=search,export
exec python -m app "$@"
