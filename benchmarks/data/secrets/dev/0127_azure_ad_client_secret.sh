#!/usr/bin/env bash
set -euo pipefail
export TIMEZONE="UTC"
export HOST=0.0.0.0
export CACHE_TTL=3600
export RETRIES=3
export CLIENT_SECRET=Mh64Q~_ZGFjtU8mxfDTiWzmhCsNurpc.egC-Voah
exec python -m app "$@"
