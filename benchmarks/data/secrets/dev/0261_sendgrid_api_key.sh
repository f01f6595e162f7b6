#!/usr/bin/env bash
set -euo pipefail
export FEATURE_FLAGS=search,export
export LOCALE=en_US
export SENDGRID_API_KEY="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"
export PORT=8080
export LOG_LEVEL=info
exec python -m app "$@"
