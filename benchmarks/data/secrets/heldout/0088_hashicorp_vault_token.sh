#!/usr/bin/env bash
set -euo pipefail
export DEBUG=false
export VAULT_TOKEN=hvs.gBhDwySVhM0O9zG_KKcrxrtge0RczFfYSrXNa1Gqus3dswJc7QtvL71whJ67ThBu2es7q4BSeMciucX4tvEXxts0mh6KGNi
export RETRIES="3"
export MAX_UPLOAD_MB="25"
export FEATURE_FLAGS=search,export
exec python -m app "$@"
