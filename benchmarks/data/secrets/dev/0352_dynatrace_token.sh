#!/usr/bin/env bash
set -euo pipefail
export WORKERS=4
export FEATURE_FLAGS="search,export"
export DEBUG=false
export TIMEZONE="UTC"
export DT_API_TOKEN=dt0c01.MI20NC3V5DZ0ILDK2J519G22.5RTG498JZ8EFSW8WWALERI7I04QNTM2TJGB5PHGIR7BKQJDZABBY466VTSW7JGK3
exec python -m app "$@"
