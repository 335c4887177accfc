#!/usr/bin/env bash
# Install what the project needs, idempotently: redis-server, redis-tools, PostgreSQL, node (from
# Debian's packages, only when missing), a Python venv in .venv with `pip install -e .[dev]`
# (skipped while pyproject.toml is unchanged since the last install). Quick when all is there.
#
# Non-interactive; installing system packages needs root (CI and the dev machines run as root).
# EXTRAS=dev,load bash scripts/install.sh   installs other extras.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

EXTRAS=${EXTRAS:-dev}
say() { echo "install: $*" >&2; }

have_pg() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

pick_python() {
  local c
  for c in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

venv_ok() {
  [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys' >/dev/null 2>&1
}

# --- system packages ----------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
have_pg || missing+=(postgresql)
# Browser tests (tests/browser): Debian's Chromium, driven by Playwright from PyPI; never
# `playwright install`, whose browser download does not work here. A font for screenshots,
# and a CJK one: the pages speak Korean (docs/pages.md), and Hangul must not be boxes.
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK-* >/dev/null 2>&1 ||
  missing+=(fonts-noto-cjk)
# The JavaScript client is also an npm package (web/package.json): its tests run node and
# `npm pack` (tests/test_js_package.py).
command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if ! venv_ok; then
  if py=$(pick_python); then
    "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  else
    missing+=(python3 python3-venv)
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing: ${missing[*]}; run this script as root (or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # Packages' postinst scripts would start system services (a redis on 6379, a cluster on
  # 5432); we run our own on free ports, so keep invoke-rc.d from starting anything.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; added_policy=1
  fi
  trap '[ "$added_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$added_policy" = 1 ] && rm -f "$policy"
  trap - EXIT
fi
have_pg || { say "PostgreSQL binaries still not found after install"; exit 1; }
# PostgreSQL refuses to run as root: the tests and run.sh run it as the `postgres` OS user.
if [ "$(id -u)" -eq 0 ] && ! getent passwd postgres >/dev/null 2>&1; then
  say "creating the postgres OS user"
  useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# --- Python venv and packages --------------------------------------------------------------
if ! venv_ok; then
  py=$(pick_python) || { say "no python >= 3.11 found"; exit 1; }
  say "creating .venv with $py"
  rm -rf .venv
  "$py" -m venv .venv
fi

stamp=.venv/.install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=$EXTRAS $(.venv/bin/python -V 2>&1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "up to date"
  exit 0
fi
say "pip install -e .[$EXTRAS]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
.venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
echo "$want" >"$stamp"
say "done"
