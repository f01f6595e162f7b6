#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export LOCALE=en_US
export AWS_SECRET_ACCESS_KEY="O5jEHirsfj+hId0w8U063c6KywYZRES6stMgeonC"
export REGION="eu-west-1"
export SENTRY_ENVIRONMENT=prod
exec python -m app "$@"
