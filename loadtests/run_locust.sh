#!/usr/bin/env bash
# Start the whole system on free ports, run the locust traffic mix headless, write CSV + HTML
# reports under loadtests/results/locust/, stop everything. Arguments pass through
# (-u USERS, -r SPAWN_RATE, -t DURATION, --heartbeat-every S, --keep); see docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import locust" 2>/dev/null; then
    echo "run_locust: installing the load extra (locust)" >&2
    .venv/bin/pip install -q -e '.[dev,load]'
fi
exec .venv/bin/python -m loadtests.run_locust "$@"
