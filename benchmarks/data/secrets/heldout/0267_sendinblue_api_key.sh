#!/usr/bin/env bash
set -euo pipefail
export LOCALE=en_US
export MAX_UPLOAD_MB="25"
export RETRIES=3
export BREVO_API_KEY=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
exec python -m app "$@"
