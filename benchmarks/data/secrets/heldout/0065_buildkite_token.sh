#!/usr/bin/env bash
set -euo pipefail
export REGION="eu-west-1"
export BUCKET=assets-prod-7421
export LOG_LEVEL="info"
export FEATURE_FLAGS="search,export"
export BUILDKITE_API_TOKEN=bkua_03ec9597aa61105ea1882704db8f1c39d77d8004
export WORKERS=4
exec python -m app "$@"
