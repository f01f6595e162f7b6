#!/usr/bin/env bash
set -euo pipefail
export APP_ENV="production"
export HOST=0.0.0.0
export PYPI_API_TOKEN="pypi-AgEIcHlwaS5vcmcV-yBx5VvGvt4emL4tYUR4FurW_9BdH4Uaz7PohRVqQXnd276nVnakTArP2wW454uaGKNMxR4yX85EY5_xlsWiXDHId5o4qNxG7j07qMVz29ToSsRYcb6TNN2G6Tvpj"
export TIMEZONE=UTC
export BUCKET=assets-prod-7421
export LOCALE=en_US
exec python -m app "$@"
