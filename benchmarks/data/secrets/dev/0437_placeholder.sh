#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export HOST="0.0.0.0"
export COMMIT_SHA=9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e
export STRIPE_SECRET_KEY="sk_test_4eC39HqLyjWDarjtT1zdp7dc"
exec python -m app "$@"
