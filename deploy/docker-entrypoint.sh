#!/bin/sh
# The image's entry point: one image, several processes. The first argument picks which one
# (default: the realtime hub); anything after it is appended to that process's command line.
#
#   realtime   python -m realtime: the hub on $PORT (8001)
#   api        python -m api: the REST api on $PORT (8000)
#   worker     python -m workers: arq workers.main.WorkerSettings
# The servers' settings (the hub's direct lane, frame limit, no deflate; proxy headers,
# keep-alive, graceful shutdown) are in core/launch.py, the one place every start uses.
#   migrate    alembic upgrade head (one-shot; migrators serialise on an advisory lock)
#   other      run as given (`docker run IMAGE sh`, `... python -m scripts.seed`)
#
# ENTRYPOINT_DRY_RUN=1 prints the command instead of running it (tests/deploy uses it); for
# the apps, `python -m` prints the whole uvicorn command line it would run.
# -f: no globbing.
set -euf

role="${1:-realtime}"
[ "$#" -gt 0 ] && shift

run() {
  if [ "${ENTRYPOINT_DRY_RUN:-0}" = 1 ]; then
    echo "$*"
    exit 0
  fi
  exec "$@"  # exec: the process is PID 1 and receives SIGTERM itself (the hub drains on it)
}

# One of the project's processes; in a dry run it prints the command it would run.
app() {
  [ "${ENTRYPOINT_DRY_RUN:-0}" = 1 ] && export LAUNCH_DRY_RUN=1
  exec python -m "$@"
}

# In a container the apps listen on every interface. X-Forwarded-For is believed only from
# the proxies FORWARDED_ALLOW_IPS names (core/launch.py); unset, from nobody. compose.yaml
# sets it for the network behind its nginx; elsewhere set it to the load balancer's
# addresses or CIDR.
export HOST="${HOST:-0.0.0.0}"

case "$role" in
  realtime)
    app realtime "$@"
    ;;
  api)
    app api "$@"
    ;;
  worker)
    app workers "$@"
    ;;
  migrate)
    run alembic upgrade head "$@"
    ;;
  *)
    run "$role" "$@"
    ;;
esac
