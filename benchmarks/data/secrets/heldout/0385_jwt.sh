#!/usr/bin/env bash
set -euo pipefail
export DEBUG=false
export BUCKET=assets-prod-7421
export APP_ENV=production
export MAX_UPLOAD_MB=25
export SESSION_TOKEN="eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiQWlDTHJZMzQ4QSIsICJpYXQiOiAxNDkxMDQzNjA2fQ.qmYsHcmLQZEKQaT0bxE6b-XmvnqRqb6I35FLrVQOelo"
export TIMEZONE=UTC
export BUILD_ID=20240611.3
exec python -m app "$@"
