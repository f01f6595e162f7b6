#!/usr/bin/env bash
set -euo pipefail
export XAI_API_KEY=xai-UT7JwSxKritWvpvKOpfBcKuQxZBkgsaEKqZF78H29MpaQJrR9t6v8u2v56f73vu1LZMzSZ4o5gy9MB0E
export BUCKET=assets-prod-7421
export DEBUG=false
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export LOCALE="en_US"
export APP_ENV="production"
exec python -m app "$@"
