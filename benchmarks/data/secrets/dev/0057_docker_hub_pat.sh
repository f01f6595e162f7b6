#!/usr/bin/env bash
set -euo pipefail
export REGION=eu-west-1
export DOCKERHUB_TOKEN=dckr_pat_OOwppnqAYmXVU8eKhNGwLy7_SSH
export WORKERS=4
exec python -m app "$@"
