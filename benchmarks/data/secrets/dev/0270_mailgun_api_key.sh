#!/usr/bin/env bash
set -euo pipefail
export LOG_LEVEL="info"
export HOST="0.0.0.0"
export MAILGUN_API_KEY=key-54f48e9ed5dc62250c87af50aa60d006
export TIMEZONE="UTC"
exec python -m app "$@"
