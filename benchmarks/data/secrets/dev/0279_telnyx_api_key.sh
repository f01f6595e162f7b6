#!/usr/bin/env bash
set -euo pipefail
export SENTRY_ENVIRONMENT=prod
export TELNYX_API_KEY="KEY486AC62DB05D51617E51BB1480FA7B0F_AWwSNKBmLtTQKLamdFZk74"
export LOCALE=en_US
export MAX_UPLOAD_MB=25
exec python -m app "$@"
