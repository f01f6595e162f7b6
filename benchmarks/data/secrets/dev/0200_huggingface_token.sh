#!/usr/bin/env bash
set -euo pipefail
export LOCALE="en_US"
export FEATURE_FLAGS=search,export
export LOG_LEVEL=info
export HUGGING_FACE_HUB_TOKEN="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"
export APP_ENV=production
export TIMEZONE=UTC
export MAX_UPLOAD_MB="25"
exec python -m app "$@"
