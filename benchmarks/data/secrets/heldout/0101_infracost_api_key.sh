#!/usr/bin/env bash
set -euo pipefail
export HOST="0.0.0.0"
export INFRACOST_API_KEY="ico-G3TOxCPHNLpwZw04ZoI0kOjpNf3sl5pJ"
export LOCALE="en_US"
exec python -m app "$@"
