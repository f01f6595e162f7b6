#!/usr/bin/env bash
set -euo pipefail
export HOST="0.0.0.0"
export WORKERS="4"
export CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-IRhzQk0IXUoWq96jKLUPNFzNNPnavuqpYemjvG9Xqul
export APP_ENV=production
export SENTRY_ENVIRONMENT=prod
exec python -m app "$@"
