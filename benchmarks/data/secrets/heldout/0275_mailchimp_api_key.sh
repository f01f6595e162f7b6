#!/usr/bin/env bash
set -euo pipefail
export RETRIES=3
export APP_ENV="production"
export MAILCHIMP_API_KEY="874e2f0eddfefd10c201530e658e0f8b-us18"
exec python -m app "$@"
