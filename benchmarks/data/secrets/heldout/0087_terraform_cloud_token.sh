#!/usr/bin/env bash
set -euo pipefail
export BUCKET="assets-prod-7421"
export HOST="0.0.0.0"
export FEATURE_FLAGS=search,export
export PORT="8080"
export BUILD_ID=20240611.3
export TFE_TOKEN=FHl1mX7PjSx46o.atlasv1.nPV0b7RZK3JwTfmg9xPNu69ybqTipZFzipNQav8pFH6R6-bjgTkPocroZP1b1RLxDxR
exec python -m app "$@"
