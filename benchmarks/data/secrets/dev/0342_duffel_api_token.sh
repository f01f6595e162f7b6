#!/usr/bin/env bash
set -euo pipefail
export TIMEZONE=UTC
export BUILD_ID=20240611.3
export BUCKET=assets-prod-7421
export MAX_UPLOAD_MB="25"
export DUFFEL_ACCESS_TOKEN="duffel_live__jvklPqGVjBjyCSGPenPfYUkynzWsRsSm-_PPYzWTKe"
export REGION=eu-west-1
exec python -m app "$@"
