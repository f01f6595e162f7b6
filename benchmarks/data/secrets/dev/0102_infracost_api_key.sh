#!/usr/bin/env bash
set -euo pipefail
export INFRACOST_API_KEY="ico-Vm1ymdBi1rmufu1ZS2nBPWW1UKaMZDzB"
export DEBUG=false
export FEATURE_FLAGS=search,export
export PORT="8080"
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
exec python -m app "$@"
