#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export BITBUCKET_APP_PASSWORD=ATBBaZS7q5wqB5F7F2AYRdRyyXov2exVYdzH
export REGION="eu-west-1"
export DEBUG="false"
export PORT=8080
export APP_ENV="production"
exec python -m app "$@"
