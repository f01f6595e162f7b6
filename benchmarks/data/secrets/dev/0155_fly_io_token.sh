#!/usr/bin/env bash
set -euo pipefail
export FLY_API_TOKEN=fo1_bOZQ0F_riq9NADvj1dxcIMiCylvzXuwP2qhqMW4eYM5
export APP_ENV=production
export CACHE_TTL="3600"
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
exec python -m app "$@"
