#!/usr/bin/env bash
set -euo pipefail
export DEBUG=false
export SENTRY_ENVIRONMENT=prod
export HF_TOKEN="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"
export LOCALE=en_US
export RETRIES=3
export APP_ENV=production
exec python -m app "$@"
