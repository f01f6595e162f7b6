#!/usr/bin/env bash
set -euo pipefail
export WORKERS=4
export BUILD_ID="20240611.3"
export FEATURE_FLAGS=search,export
export LINEAR_API_KEY=lin_api_w37MBDOd1Yp6Z4HG0LVQGKElAYbyjMHCXiz6AEA7
exec python -m app "$@"
