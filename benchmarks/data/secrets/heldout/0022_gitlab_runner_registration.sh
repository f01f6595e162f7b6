#!/usr/bin/env bash
set -euo pipefail
export REGISTRATION_TOKEN=GR1348941QIFmo1motipBPToppI5j
export LOCALE=en_US
export BUCKET=assets-prod-7421
export BUILD_ID="20240611.3"
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export DEBUG="false"
exec python -m app "$@"
