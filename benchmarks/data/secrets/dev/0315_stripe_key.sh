#!/usr/bin/env bash
set -euo pipefail
export WORKERS="4"
export RETRIES=3
export FEATURE_FLAGS=search,export
export MAX_UPLOAD_MB=25
export STRIPE_SECRET_KEY=sk_test_wuHRSlfg8PxJvmT2HelUJsy8
exec python -m app "$@"
