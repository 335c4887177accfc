#!/usr/bin/env bash
# THE "run everything" command: install what is missing, start redis-server and PostgreSQL
# (data in .run/, free local ports), migrate, seed a demo catalog, start the realtime hub
# (8001 or next free), the REST api (8000 or next free) and the arq worker (metrics on 9108
# or next free), print the URLs (every /metrics too) and 24 h dev tokens, and wait. Ctrl-C
# (or SIGTERM) stops everything cleanly.
#   bash scripts/run.sh             everything
#   bash scripts/run.sh services    only Redis + PostgreSQL (then `source .run/env`)
# Logs: .run/logs/ (plain text; LOG_FORMAT=json for JSON lines). Settings from the
# environment pass through (REWARD_INTERVAL_MS=5000 ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
exec .venv/bin/python -m scripts.devservices "$@"
