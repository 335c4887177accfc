#!/usr/bin/env bash
# The gates CI holds besides the tests: ruff (the rules in pyproject.toml, import order
# included), ruff's formatter, mypy --strict on the product packages, and the import layers
# declared in .importlinter. Installs what is missing first (scripts/install.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
bin=.venv/bin
status=0
run() {
  echo "lint: $*" >&2
  "$@" || status=1
}
run "$bin/ruff" check .
run "$bin/ruff" format --check .
run "$bin/mypy"
run "$bin/lint-imports"
exit "$status"
