#!/usr/bin/env bash
set -euo pipefail
export MONGO_URI=mysql://app:J87UZhVvMxJ2gymK@amnggf.internal:5432/vgwum
export LOCALE="en_US"
export SENTRY_ENVIRONMENT="prod"
export DEBUG=false
exec python -m app "$@"
