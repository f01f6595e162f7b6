#!/usr/bin/env bash
set -euo pipefail
export TWILIO_API_KEY="SKfbd76670c256084e82478529d7876207"
export LOG_LEVEL="info"
export TIMEZONE=UTC
export WORKERS="4"
exec python -m app "$@"
