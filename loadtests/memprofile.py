"""Where an idle connection's memory goes: Python allocations per connection, by file and by
line, for the hub (or the echo apps), with tracemalloc (loadtests/traced_app.py).

    .venv/bin/python -m loadtests.memprofile                 # the hub, 5,000 connections
    .venv/bin/python -m loadtests.memprofile --app loadtests.echo_app:starlette_app
    .venv/bin/python -m loadtests.memprofile --sessions      # also after `start` on each

tracemalloc sees what Python allocates (objects, frames, buffers made by Python code); it
does not see C allocations outside Python's allocator (libuv handles, kernel socket buffers),
so its total is below the RSS growth that the benchmark reports. Tracing slows the server,
so no speed is measured here. Writes loadtests/results/memprofile-<time>.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from typing import Any

from devkit.servers import free_port
from loadtests.bench.config import FIRST_UID, GATES_OFF, REAL_ENV, RESULTS
from loadtests.loadgen import LoadGen, split
from loadtests.stack import Stack, rss_kib, uvicorn_argv


def _get(port: int, path: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="realtime.app:app")
    parser.add_argument("--conns", type=int, default=5000)
    parser.add_argument("--sessions", action="store_true", help="also measure after `start`")
    parser.add_argument("--frames", type=int, default=1, help="traceback depth per allocation")
    args = parser.parse_args(argv)
    hub = args.app.startswith("realtime.")
    stack = Stack(service_cpus={1})
    lg: LoadGen | None = None
    try:
        stack.start()
        stack.provision_users(FIRST_UID, args.conns + 200)
        tokens = stack.tokens(range(FIRST_UID, FIRST_UID + args.conns + 200)) if hub else None
        port = free_port()
        env = stack.env(
            **(REAL_ENV if hub else GATES_OFF), TRACED_APP=args.app, TRACE_FRAMES=args.frames
        )
        # The hub's deployed flags, on the plain ASGI lane (the tracer wraps the ASGI app).
        argv_app = uvicorn_argv("loadtests.traced_app:app", port)
        app = stack.start_app("traced", argv_app, env, port=port, cpus={0})
        lg = LoadGen(2, {1})
        used = 0

        def connect(n: int, typed: bool) -> int:
            nonlocal used
            cmds = []
            for i, k in enumerate(split(n, 2)):
                cmds.append(
                    {
                        "op": "connect",
                        "host": "127.0.0.1",
                        "port": port,
                        "path": "/ws",
                        "tokens": tokens[used : used + k] if tokens else None,
                        "n": k,
                        "src": lg.src(i),
                        "deflate": False,
                        "typed": typed,
                        "concurrency": 64,
                        "timeout": 60.0,
                        "t0": time.perf_counter(),
                    }
                )
                used += k
            return sum(r["opened"] for r in lg.call(cmds, timeout=600))

        connect(200, False)
        lg.broadcast({"op": "close"}, timeout=60)
        time.sleep(1.0)
        _get(port, "/__mem/base")
        rss0 = rss_kib(app.pid)
        opened = connect(args.conns, args.sessions)
        time.sleep(2.0)
        out: dict[str, Any] = {
            "app": args.app,
            "opened": opened,
            "rss_kib_per_conn": round((rss_kib(app.pid) - rss0) / opened, 2),
        }
        for by in ("filename", "lineno"):
            out[f"idle_by_{by}"] = _get(port, f"/__mem/diff?n={opened}&by={by}")
        if args.sessions and hub:
            replies = lg.broadcast(
                {
                    "op": "start",
                    "content_ids": stack.content_ids,
                    "concurrency": 32,
                    "timeout": 60.0,
                },
                timeout=600,
            )
            out["started"] = sum(r["outcome"].get("started", 0) for r in replies)
            time.sleep(2.0)
            out["rss_kib_per_conn_with_session"] = round((rss_kib(app.pid) - rss0) / opened, 2)
            for by in ("filename", "lineno"):
                out[f"session_by_{by}"] = _get(port, f"/__mem/diff?n={opened}&by={by}")
        lg.broadcast({"op": "close"}, timeout=60)
    finally:
        if lg is not None:
            lg.close()
        stack.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"memprofile-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"{args.app}: {opened} connections, RSS {out['rss_kib_per_conn']} KiB per connection, "
        f"Python allocations {out['idle_by_filename']['bytes_per_conn'] / 1024:.1f} KiB"
    )
    for key in ("idle_by_filename", "idle_by_lineno", "session_by_lineno"):
        if key not in out:
            continue
        print(f"\n{key} (bytes per connection):")
        for row in out[key]["top"][:25]:
            print(
                f"  {row['bytes_per_conn']:>8.0f}  {row['blocks_per_conn']:>6.2f} blocks  "
                f"{row['where']}"
            )
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
