#!/usr/bin/env bash
set -euo pipefail
export FB_ACCESS_TOKEN=EAABYtiYBE00LYDLcfGwUJHXqxMrqoStTHO3FTngs0B6ofWP5nAKaNm3oWLWodlcDy9PWELFau654B16UPpxUsPBdgRejSUCpmCjMRszRUVn33E28MqA2VMukDWAbUpfNpFLEpjtRqIiNaKFyz6fReIbaC
export LOCALE=en_US
export LOG_LEVEL=info
exec python -m app "$@"
