#!/usr/bin/env bash
set -euo pipefail
export NOTION_TOKEN=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
export FEATURE_FLAGS="search,export"
export DEBUG=false
exec python -m app "$@"
