#!/usr/bin/env bash
set -euo pipefail
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export FEATURE_FLAGS="search,export"
export TELEGRAM_BOT_TOKEN="535610958:AAVKSRTTx687vhG8wxwNJ9lF5NjWD9Ea_D-"
export TIMEZONE=UTC
export MAX_UPLOAD_MB="25"
exec python -m app "$@"
