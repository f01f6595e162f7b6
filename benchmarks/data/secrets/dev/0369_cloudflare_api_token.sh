#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB=25
export SENTRY_ENVIRONMENT=prod
export BUILD_ID="20240611.3"
export CF_API_TOKEN=W-EsuNXAABrpbQ-5vD4k17C_B6WI1gwJTXbgWiLu
export REGION=eu-west-1
export BUCKET=assets-prod-7421
export HOST=0.0.0.0
exec python -m app "$@"
