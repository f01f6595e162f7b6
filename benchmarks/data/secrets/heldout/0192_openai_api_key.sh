#!/usr/bin/env bash
set -euo pipefail
export MAX_UPLOAD_MB="25"
export OPENAI_KEY=sk-proj-cKhGzdIJ8AY5KIGjoNo3T3BlbkFJH5DxkwfOiZtWSF2OXvBG
export FEATURE_FLAGS=search,export
export BUILD_ID=20240611.3
export REGION=eu-west-1
exec python -m app "$@"
