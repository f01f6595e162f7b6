#!/usr/bin/env bash
set -euo pipefail
export FEATURE_FLAGS="search,export"
export YC_API_KEY="AQVNIbGPRPaqR7wnB6Sv8794zKEtQp_0AsPHsfaG"
export HOST=0.0.0.0
export SENTRY_ENVIRONMENT="prod"
export LOCALE=en_US
export APP_ENV="production"
exec python -m app "$@"
