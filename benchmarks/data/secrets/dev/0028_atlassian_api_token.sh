#!/usr/bin/env bash
set -euo pipefail
export APP_ENV="production"
export MAX_UPLOAD_MB="25"
export WORKERS=4
export CONFLUENCE_TOKEN="ATATT3C_HDeFBcpIHs2Rb53StnWq0wB0h7FP0xVA=RSKqeWfCVVK2N6TFgrwDE-LtlT6e=tUzri-yBnk8EhE6yPzs-GCiEglarxgaOqftUTqBGTsullp-z3VASF4QrB9gYI2jWVIUO=x3inkB2jhorY3SATxu7E0dCuUYt-CfejX1J5e5MYV4I2yig3tpLnD"
export HOST=0.0.0.0
export DEBUG=false
exec python -m app "$@"
