#!/bin/sh
# The image's entry point: one image, several processes. The first argument picks which one
# (default: the realtime hub); anything after it is appended to that process's command line.
#
#   realtime   uvicorn realtime.app:app on $PORT (8001)
#   api        uvicorn api.app:app on $PORT (8000)
#   worker     arq workers.main.WorkerSettings
#   migrate    alembic upgrade head (one-shot; migrators serialise on an advisory lock)
#   other      run as given (`docker run IMAGE sh`, `... python -m scripts.seed`)
#
# ENTRYPOINT_DRY_RUN=1 prints the command instead of running it (tests/deploy uses it).
# -f: no globbing, so FORWARDED_ALLOW_IPS=* stays a star when $proxy is split into words.
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

# Behind nginx: take the client address from X-Forwarded-For (per-IP limits and blocks need
# it). Only trust it from addresses that cannot be a client: in compose the app ports are not
# published, so only containers on the network reach them and "*" is safe; elsewhere set
# FORWARDED_ALLOW_IPS to the load balancer's addresses or CIDR.
proxy="--proxy-headers --forwarded-allow-ips ${FORWARDED_ALLOW_IPS:-*}"
# Keep idle upstream connections longer than nginx does (its keepalive_timeout is 60 s), or a
# request nginx sends on a connection uvicorn is closing comes back 502.
keepalive="--timeout-keep-alive 75"

case "$role" in
  realtime)
    # --ws realtime.wsdirect:DirectProtocol: uvicorn's websockets-sansio protocol with the
    #   hub's direct lane for /ws frames (no ASGI event per frame: docs/performance.md).
    # --ws-max-size: larger frames are refused before they are buffered (close 1009).
    # --ws-per-message-deflate false: heartbeats are tiny; deflate doubles memory per idle
    #   connection (about 60 KB vs 26 KB) and costs CPU per frame (docs/operations.md).
    # --timeout-graceful-shutdown: after the hub's own drain (DRAIN_SECONDS) every WebSocket
    #   is closed already; this bounds what is left (in-flight fallback calls).
    # --no-access-log: fallback heartbeats would be a line each; http_requests_total counts
    #   them. Append --access-log to get the lines.
    # shellcheck disable=SC2086
    run uvicorn realtime.app:app --host "${HOST:-0.0.0.0}" --port "${PORT:-8001}" \
      --ws realtime.wsdirect:DirectProtocol \
      --ws-max-size "${WS_MAX_FRAME_BYTES:-4096}" --ws-per-message-deflate false \
      $proxy $keepalive --timeout-graceful-shutdown 5 --no-access-log "$@"
    ;;
  api)
    # --no-access-log: core.logs.AccessLog writes one JSON line per request instead.
    # shellcheck disable=SC2086
    run uvicorn api.app:app --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
      $proxy $keepalive --timeout-graceful-shutdown 10 --no-access-log "$@"
    ;;
  worker)
    run arq workers.main.WorkerSettings "$@"
    ;;
  migrate)
    run alembic upgrade head "$@"
    ;;
  *)
    run "$role" "$@"
    ;;
esac
