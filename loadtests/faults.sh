#!/usr/bin/env bash
# Fault drills under light load: start the whole system on loopback (two hubs, api, worker,
# each restarted on exit by a small supervisor), put a locust load on it, SIGKILL a hub, the
# worker, Redis, PostgreSQL and SIGSTOP Redis for 5 s, one after the other; print the table
# (recovery time, grants lost, duplicates, manual restarts) and write
# loadtests/results/faults-<time>.json. Arguments pass through (--faults, -u, --load,
# --warmup, --settle, --recovery-timeout, --keep); see docs/operations.md, "Fault drills".
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import locust" 2>/dev/null; then
    echo "faults: installing the load extra (locust)" >&2
    .venv/bin/pip install -q -e '.[dev,load]'
fi
exec .venv/bin/python -m loadtests.faults "$@"
