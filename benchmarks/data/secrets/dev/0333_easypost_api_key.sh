#!/usr/bin/env bash
set -euo pipefail
export EASYPOST_API_KEY="EZAKnqcu87xtnjn3wy5qrox8077x9vlrdji12zvr995m1mlpzhewu5luxu"
export DEBUG=false
export APP_ENV=production
exec python -m app "$@"
