#!/usr/bin/env bash
set -euo pipefail
export GRAFANA_SERVICE_ACCOUNT_TOKEN=glsa_nw5O5QqFhzdEtTBGUMORIo8bKdDhXzVL_e58ef778
export SENTRY_ENVIRONMENT=prod
export LOCALE=en_US
export MAX_UPLOAD_MB=25
exec python -m app "$@"
