#!/usr/bin/env bash
set -euo pipefail
export FEATURE_FLAGS=search,export
export BUILD_ID=20240611.3
export TIMEZONE="UTC"
export MAX_UPLOAD_MB=25
export CACHE_TTL="3600"
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=lkekkrwkub;AccountKey=p6ULBD+NYx0Oh3F6bFAl1IqszHiQaBU5G0NEV6IBBScAEe3N+vqUbfKbVmLKaQJ5hufSWe2JvWHFjA91YOtqhV==;EndpointSuffix=core.windows.net"
export RETRIES=3
exec python -m app "$@"
