#!/usr/bin/env bash
set -euo pipefail
export LOG_LEVEL=info
export PORT=8080
export SENTRY_ENVIRONMENT="prod"
export REPLICATE_API_TOKEN=r8_75YnUeEoPk91EdC7MQtGZ8oW9hZSkXGn9jqh6
export RETRIES=3
export WORKERS=4
export LOCALE=en_US
exec python -m app "$@"
