#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL="3600"
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export SENTRY_ENVIRONMENT=prod
export WORKERS=4
export APP_ENV=production
export SLACK_BOT_TOKEN="xoxp-457717663611-763528275543-hCtvnCLpaKgykaKsZEROJqNt"
exec python -m app "$@"
