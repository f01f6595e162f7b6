#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB=25
export RENDER_API_KEY="rnd_bKxisQsnHJDCcEsh0j23QSnsjLeP6KAt"
export WORKERS=4
export APP_ENV="production"
export FEATURE_FLAGS=search,export
exec python -m app "$@"
