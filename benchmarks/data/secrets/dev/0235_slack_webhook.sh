#!/usr/bin/env bash
set -euo pipefail
export SENTRY_ENVIRONMENT=prod
export WEBHOOK=https://hooks.slack.com/services/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
export TIMEZONE=UTC
export RETRIES="3"
exec python -m app "$@"
