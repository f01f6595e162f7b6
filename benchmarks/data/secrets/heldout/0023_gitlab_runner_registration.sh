#!/usr/bin/env bash
set -euo pipefail
export PORT=8080
export REGISTRATION_TOKEN=GR1348941uvzn7rVDSgcROX0GMiNa
export BUILD_ID=20240611.3
export RETRIES="3"
export LOG_LEVEL=info
exec python -m app "$@"
