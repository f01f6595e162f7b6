#!/usr/bin/env bash
set -euo pipefail
export ALGOLIA_API_KEY=394144e1519d9d20f9d870404d83fb84
export MAX_UPLOAD_MB=25
export HOST=0.0.0.0
exec python -m app "$@"
