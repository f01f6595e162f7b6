#!/usr/bin/env bash
set -euo pipefail
export JIRA_API_TOKEN="ATATT3_lLma7ClNv4gHGoUQNO3fa==yPbxRgAPZw9diEV=d0j1zi-MQXC6F_byrfMJF24YW=YxuZduIrG6FWSk8F=IyLzmyit8G9C2moTjIu1yDOEBMqrvEvJ_K5q=AUpubSSNzo1urhvEIfhykKJVi0KQkheaMj9GmaJorlRE4uEDo1UF2XZdOQ=Pi6ZHu6"
export BUCKET=assets-prod-7421
export TIMEZONE=UTC
export LOCALE=en_US
export SENTRY_ENVIRONMENT=prod
exec python -m app "$@"
