#!/usr/bin/env bash
set -euo pipefail
export RETRIES="3"
export REPLICATE_API_TOKEN=r8_hY5DizA2gdfxqJ1PlyuvyGxVHMpI67OrXR5oJ
export FEATURE_FLAGS="search,export"
exec python -m app "$@"
