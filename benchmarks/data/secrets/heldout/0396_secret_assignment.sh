#!/usr/bin/env bash
set -euo pipefail
export BUCKET=assets-prod-7421
export JWT_SECRET="mHAHa7EatlS9#wXM@wrW%Ph#OgOg9IYx^GG4tjJmnapuixr-q"
export LOCALE="en_US"
export DEBUG="false"
export MAX_UPLOAD_MB="25"
export BUILD_ID="20240611.3"
exec python -m app "$@"
