#!/usr/bin/env bash
set -euo pipefail
export LOG_LEVEL=info
export FEATURE_FLAGS=search,export
export REGION="eu-west-1"
export HUGGINGFACE_API=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
exec python -m app "$@"
