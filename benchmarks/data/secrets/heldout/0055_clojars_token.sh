#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export DEBUG="false"
export LOG_LEVEL=info
export CLOJARS_PASSWORD="CLOJARS_i0v12hqd7s6umnopywqa56i14f7rgog1zjh27nknrxuwqjboq48bvblmqoe1"
export APP_ENV="production"
exec python -m app "$@"
