#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB="25"
export RETRIES=3
export LOG_LEVEL=info
export MAILCHIMP_API_KEY=a6183c4a0e445b55b5efb31d9c6872ef-us2
export APP_ENV="production"
export DEBUG=false
exec python -m app "$@"
