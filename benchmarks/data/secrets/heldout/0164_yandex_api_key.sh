#!/usr/bin/env bash
set -euo pipefail
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export TIMEZONE="UTC"
export BUILD_ID=20240611.3
export MAX_UPLOAD_MB=25
export SENTRY_ENVIRONMENT="prod"
export YC_API_KEY=AQVN0oqmHjg6wxEjEegHwbr6jwmMYV4hC2EqUoGY
exec python -m app "$@"
