#!/usr/bin/env bash
set -euo pipefail
export HOST="0.0.0.0"
export ARTIFACTORY_API_KEY=AKCpT7Tr9v3YTyYeSrHl9rpAtGbENHoAPe6E8N9VN6SS3ddsjktgNsdYFuBE9TuncNuS06aLp
export BUILD_ID=20240611.3
export RETRIES=3
export LOCALE="en_US"
export BUCKET=assets-prod-7421
export TIMEZONE=UTC
exec python -m app "$@"
