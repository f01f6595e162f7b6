#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL="3600"
export LOG_LEVEL="info"
export AZURE_CLIENT_SECRET=xQB4Q~HEzsA8sXfX-Vj46RbiXPcRKi58sBSZsfFC
export TIMEZONE=UTC
export REGION=eu-west-1
exec python -m app "$@"
