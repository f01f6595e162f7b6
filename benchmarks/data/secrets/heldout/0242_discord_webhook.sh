#!/usr/bin/env bash
set -euo pipefail
export TIMEZONE=UTC
export RETRIES="3"
export FEATURE_FLAGS=search,export
export BUILD_ID=20240611.3
export DISCORD_WEBHOOK="https://discord.com/api/webhooks/825705416196982147/9gd5sFynkyr_d5bhsdTdX_QkQuWl1D2rp4kjkmIHN9Jr-VtS5QIhRFRPWgARGHVafiwS"
exec python -m app "$@"
