#!/usr/bin/env bash
set -euo pipefail
export RETRIES=3
export FEATURE_FLAGS="search,export"
export CACHE_TTL=3600
export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
exec python -m app "$@"
