#!/usr/bin/env bash
# THE "run the tests" command: install what is missing, then pytest with the given arguments.
# The tests start their own redis-server and PostgreSQL on free ports (tests/conftest.py).
#   bash scripts/test.sh                 all tests
#   bash scripts/test.sh -q -k ws        pytest arguments pass through
# TEST_TIMEOUT (seconds per test, default 300) guards CI against a hung test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh

set +e
.venv/bin/python -m pytest --timeout="${TEST_TIMEOUT:-300}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest ran no tests (exit 5); that counts as a failure" >&2
  exit 1
fi
exit "$rc"
