#!/usr/bin/env bash
set -euo pipefail
export REGISTRATION_TOKEN=GR13489416pgDFYvKasYZgmnxg9se
export FEATURE_FLAGS=search,export
export PORT="8080"
exec python -m app "$@"
