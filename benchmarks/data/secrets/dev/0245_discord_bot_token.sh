#!/usr/bin/env bash
set -euo pipefail
export DISCORD_BOT_TOKEN=NH6fu7IJSmsTZK5vzMNa1Vux.TEBDAx.3e5LD1V4vk6g2BLo8T0_PPaPCOT
export LOG_LEVEL=info
export TIMEZONE=UTC
exec python -m app "$@"
