#!/usr/bin/env bash
set -euo pipefail
export BUILD_ID=20240611.3
export COMMIT_SHA="9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"
export LOCALE=en_US
export DATABASE_URL="postgresql://user:pass@localhost:5432/mydb"
exec python -m app "$@"
