#!/usr/bin/env bash
set -euo pipefail
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export MAILCHIMP_API_KEY="3e1b795f40676d4b0361ac90de23301e-us8"
export TIMEZONE=UTC
export LOG_LEVEL="info"
export HOST=0.0.0.0
exec python -m app "$@"
