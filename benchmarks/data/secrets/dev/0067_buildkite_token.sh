#!/usr/bin/env bash
set -euo pipefail
export BUILDKITE_API_TOKEN=bkua_c01d386923db543995f9772f6bd8a34eb42ecfa9
export REGION=eu-west-1
export FEATURE_FLAGS=search,export
export APP_ENV=production
export DEBUG=false
export BUCKET=assets-prod-7421
exec python -m app "$@"
