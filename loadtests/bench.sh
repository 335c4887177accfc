#!/usr/bin/env bash
# The benchmark: baselines and the hub side by side, table on stdout, JSON under
# loadtests/results/. `--quick` for ~2 minutes; `--help` for the options; see docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m loadtests.bench "$@"
