"""How each process is started: the one place that holds the deployed server settings.

`python -m realtime`, `python -m api` and `python -m workers` start the three processes with
them; the container entrypoint, `scripts/run.sh`, the test fixtures, the benchmark, the
fuzzer and the fault drill all start processes through `command()`. Arguments given after
the process name are uvicorn's (or arq's) and win over the defaults here, since a repeated
option takes its last value: `python -m realtime --port 9001 --ws websockets-sansio`.

The hub's defaults, and why (docs/operations.md):
- `--ws realtime.wsdirect:DirectProtocol`: uvicorn's websockets-sansio protocol with the
  hub's direct lane for /ws frames (no ASGI event per frame: docs/performance.md);
- `--ws-max-size` = WS_MAX_FRAME_BYTES: larger frames are refused before they are buffered
  (close 1009);
- `--ws-per-message-deflate false`: heartbeats are tiny; deflate doubles the memory of an
  idle connection and costs CPU per frame;
- `--timeout-graceful-shutdown 5`: after the hub's own drain (DRAIN_SECONDS) every
  WebSocket is closed; this bounds what is left (in-flight fallback calls).
Both apps: `--proxy-headers` with FORWARDED_ALLOW_IPS when it is set, else
`--no-proxy-headers` (uvicorn alone would believe any loopback client's X-Forwarded-For),
`--timeout-keep-alive 75` (longer than nginx's 60 s upstream keep-alive, or a request
sent on a connection uvicorn is closing comes back 502), `--no-access-log` (the api writes
its own JSON access line; the hub's fallback calls are counted in http_requests_total).

Plain `uvicorn realtime.app:app` still works; the hub then logs one warning at start naming
what it runs without (`server_gaps`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Literal

Process = Literal["realtime", "api", "workers"]

HUB_WS = "realtime.wsdirect:DirectProtocol"  # uvicorn's --ws for the hub's direct lane
APPS = {"realtime": "realtime.app:app", "api": "api.app:app"}
PORTS = {"realtime": 8001, "api": 8000}
WORKER_METRICS_PORT = 9108  # the worker serves no app, only its metrics
GRACEFUL_SHUTDOWN_S = {"realtime": 5, "api": 10}
KEEPALIVE_S = 75
WORKER_SETTINGS = "workers.main.WorkerSettings"
DEFAULT_FRAME_BYTES = 4096


def frame_limit(env: Mapping[str, str]) -> str:
    """The hub's frame limit as uvicorn's --ws-max-size (WS_MAX_FRAME_BYTES; the settings
    check its value when the app starts)."""
    return env.get("WS_MAX_FRAME_BYTES", "").strip() or str(DEFAULT_FRAME_BYTES)


def proxy_flags(env: Mapping[str, str]) -> list[str]:
    """Believe X-Forwarded-For / -Proto only from the proxies FORWARDED_ALLOW_IPS names
    (addresses or CIDRs, comma-separated; `*` = any peer, for a network no client reaches);
    unset, from nobody: a forged header from any client, loopback included, is ignored."""
    trusted = env.get("FORWARDED_ALLOW_IPS", "").strip()
    if not trusted:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", trusted]


def common_flags(process: Literal["realtime", "api"], env: Mapping[str, str]) -> list[str]:
    """The uvicorn flags both apps are deployed with (no app, host, port or WebSocket flag)."""
    return [
        *proxy_flags(env),
        "--timeout-keep-alive",
        str(KEEPALIVE_S),
        "--timeout-graceful-shutdown",
        str(GRACEFUL_SHUTDOWN_S[process]),
        "--no-access-log",
    ]


def hub_ws_flags(env: Mapping[str, str]) -> list[str]:
    """The hub's WebSocket flags: the direct lane, the frame limit, no deflate."""
    return ["--ws", HUB_WS, "--ws-max-size", frame_limit(env), "--ws-per-message-deflate", "false"]


def uvicorn_args(process: Literal["realtime", "api"], env: Mapping[str, str]) -> list[str]:
    """uvicorn's arguments for an app process as deployed (HOST and PORT from `env`)."""
    where = ["--host", env.get("HOST", "127.0.0.1"), "--port", env.get("PORT", str(PORTS[process]))]
    args = [APPS[process], *where, *common_flags(process, env)]
    if process == "realtime":
        args += hub_ws_flags(env)
    return args


def command(process: Process, *extra: str, python: str = sys.executable) -> list[str]:
    """The argv that starts `process` with the deployed settings; `extra` are uvicorn's (arq's
    for the workers) options, which override them."""
    return [python, "-m", process, *extra]


def main(process: Process, argv: Sequence[str] | None = None) -> None:
    """`python -m <process>`: run it in this interpreter (does not return). With
    LAUNCH_DRY_RUN=1 it prints the equivalent command line instead (the container's entry
    point and its tests use it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if process == "workers":
        full, tool = [WORKER_SETTINGS, *args], "arq"
    else:
        full, tool = [*uvicorn_args(process, os.environ), *args], "uvicorn"
    if os.environ.get("LAUNCH_DRY_RUN") == "1":
        print(" ".join([tool, *full]))
        return
    if tool == "arq":
        from arq.cli import cli

        cli.main(args=full, prog_name="python -m workers")
        return
    from uvicorn.main import main as uvicorn_main

    uvicorn_main.main(args=full, prog_name=f"python -m {process}")


def server_gaps(frame_bytes: int) -> list[str] | None:
    """What the hub's running uvicorn lacks of the deployed settings, read from uvicorn's
    command line (its click context is current while the server runs); None when it was not
    started from a command line (uvicorn.run() from Python), so that nothing can be said."""
    import click  # uvicorn's command line is click's

    ctx = click.get_current_context(silent=True)
    if ctx is None or "ws" not in ctx.params:
        return None
    params = ctx.params
    gaps = []
    if params.get("ws") != HUB_WS:
        gaps.append(f"no direct lane (--ws {params.get('ws')}, not {HUB_WS})")
    if params.get("ws_per_message_deflate", True):
        gaps.append("per-message deflate on (--ws-per-message-deflate false saves memory and CPU)")
    if params.get("ws_max_size") != frame_bytes:
        gaps.append(
            f"--ws-max-size {params.get('ws_max_size')} differs from WS_MAX_FRAME_BYTES "
            f"{frame_bytes} (frames between the two are read whole before they are refused)"
        )
    return gaps
