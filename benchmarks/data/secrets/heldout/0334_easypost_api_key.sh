#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export REGION="eu-west-1"
export EASYPOST_API_KEY="EZAK795pf4jz6rka8bcszsi1ry1xt5to0t6szax6nuu1yd8slzdb0ctt02"
exec python -m app "$@"
