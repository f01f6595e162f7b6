#!/usr/bin/env bash
set -euo pipefail
export BUCKET="assets-prod-7421"
export REGION=eu-west-1
export SENDGRID_API_KEY=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
export TIMEZONE=UTC
export HOST="0.0.0.0"
exec python -m app "$@"
