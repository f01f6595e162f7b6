#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB=25
export PERPLEXITY_API_KEY="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"
export APP_ENV=production
exec python -m app "$@"
