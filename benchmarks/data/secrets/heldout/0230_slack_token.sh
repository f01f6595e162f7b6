#!/usr/bin/env bash
set -euo pipefail
export SLACK_TOKEN="xoxp-659989297449-537941818443-Fluwx3zPPdE1wrm6Tumzy6O5"
export LOG_LEVEL="info"
export FEATURE_FLAGS=search,export
export MAX_UPLOAD_MB="25"
export SENTRY_ENVIRONMENT=prod
export DEBUG="false"
exec python -m app "$@"
