#!/usr/bin/env bash
set -euo pipefail
export PORT=8080
export BUILD_ID=20240611.3
export BUCKET="assets-prod-7421"
export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
exec python -m app "$@"
