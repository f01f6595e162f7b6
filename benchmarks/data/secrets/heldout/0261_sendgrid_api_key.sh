#!/usr/bin/env bash
set -euo pipefail
export LOG_LEVEL=info
export SENDGRID_API_KEY=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
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
exec python -m app "$@"
