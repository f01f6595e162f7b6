#!/usr/bin/env bash
set -euo pipefail
export GH_TOKEN=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
export SENTRY_ENVIRONMENT=prod
export DEBUG="false"
exec python -m app "$@"
