#!/usr/bin/env bash
set -euo pipefail
export SONAR_TOKEN=sqa_98f0e57b731cec1a00e865e3c1834108d92afa8a
export LOG_LEVEL=info
export TIMEZONE="UTC"
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
exec python -m app "$@"
