#!/usr/bin/env bash
set -euo pipefail
export APP_ENV="production"
export RETRIES="3"
export GRAFANA_SERVICE_ACCOUNT_TOKEN=glsa_YQjKjtGqLuFgjZUfnJyezOpvCSDB2p6g_b372dcca
export SENTRY_ENVIRONMENT="prod"
exec python -m app "$@"
