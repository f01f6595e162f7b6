#!/usr/bin/env bash
set -euo pipefail
export DEBUG="false"
export LOG_LEVEL=info
export FEATURE_FLAGS=search,export
export MAILCHIMP_API_KEY="66fc102715ec025748a425307878d589-us9"
export MAX_UPLOAD_MB="25"
exec python -m app "$@"
