#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export SENTRY_ENVIRONMENT=prod
export SOPS_AGE_KEY=AGE-SECRET-KEY-12RKK3FFW0FPWJ0NLYXH6Y3RS9G6RVLXSQ7NSD6762DX834CN6AFZTHLVQU
exec python -m app "$@"
