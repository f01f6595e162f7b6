#!/usr/bin/env bash
set -euo pipefail
export PORT="8080"
export HEROKU_API_KEY="2674ba55-6661-d6ed-a0a5-47df53330e52"
export REGION="eu-west-1"
export BUCKET="assets-prod-7421"
export APP_ENV="production"
export DEBUG="false"
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
exec python -m app "$@"
