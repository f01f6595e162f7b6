#!/usr/bin/env bash
set -euo pipefail
export PORT=8080
export PASSWORD="kLA6qMz@182675VTe"
export FEATURE_FLAGS=search,export
exec python -m app "$@"
