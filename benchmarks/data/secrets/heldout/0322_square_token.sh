#!/usr/bin/env bash
set -euo pipefail
export SQUARE_ACCESS_TOKEN=EAAAi1tax2II90XEomPfDpV1fqmTKR17P4bVHNFG9XQPzxHyEmLwApGQJ7fosQAH
export SENTRY_ENVIRONMENT=prod
export FEATURE_FLAGS=search,export
export BUILD_ID="20240611.3"
exec python -m app "$@"
