#!/usr/bin/env bash
set -euo pipefail
export CACHE_TTL=3600
export HOST="0.0.0.0"
export HEROKU_API_KEY="HRKU-AApi0LwY5Zbp94AGmQxJlQppx8SgcfwvGm7sAT8-CEy3Na2v35x2I-XbXM2u"
export BUCKET="assets-prod-7421"
exec python -m app "$@"
