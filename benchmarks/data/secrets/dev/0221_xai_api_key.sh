#!/usr/bin/env bash
set -euo pipefail
export XAI_API_KEY="xai-95DKuSKhMPnZJMV6md15CK9Xa9HqHlaXd4jmUGWpCxd1XSpgI1SrHaGugFk1LGrs48sxMLoP9laT7TuA"
export LOG_LEVEL=info
export DEBUG=false
export TIMEZONE="UTC"
export LOCALE=en_US
export APP_ENV=production
exec python -m app "$@"
