#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB="25"
export TIMEZONE="UTC"
export HOST="0.0.0.0"
export SECRET="$(cat /run/secrets/app)"
exec python -m app "$@"
