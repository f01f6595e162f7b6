#!/usr/bin/env bash
set -euo pipefail
export EASYPOST_API_KEY=EZAK4cn9r01yrz365512vzy5oftwnp2h9mgwi1oiq6rdsp6n8d12ovcbiz
export LOCALE="en_US"
export CACHE_TTL="3600"
export RETRIES="3"
exec python -m app "$@"
