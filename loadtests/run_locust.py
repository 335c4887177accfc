"""Start the whole system on free ports, run the locust traffic mix headless for a bounded
time, write CSV + HTML reports under loadtests/results/locust/, stop everything.

    bash loadtests/run_locust.sh [-u USERS] [-r SPAWN_RATE] [-t DURATION] [--heartbeat-every S]

Redis (AOF everysec) and PostgreSQL are started in a throwaway folder (migrated, demo catalog
seeded), then the hub (`uvicorn realtime.app:app`), the api (`uvicorn api.app:app`) and, when
workers/main.py exists, the arq worker. Exit status: locust's (non-zero when a request failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from loadtests.stack import ROOT, Stack

RESULTS = ROOT / "loadtests" / "results" / "locust"
VENV_BIN = Path(sys.executable).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-u", "--users", type=int, default=200)
    parser.add_argument("-r", "--spawn-rate", type=float, default=50)
    parser.add_argument("-t", "--run-time", default="60s")
    parser.add_argument(
        "--heartbeat-every",
        type=float,
        default=10.0,
        help="seconds between a player's heartbeats (default 10)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' folder and logs")
    args = parser.parse_args(argv)

    if shutil.which("locust", path=str(VENV_BIN)) is None:
        print("locust is not installed: .venv/bin/pip install -e '.[load]'", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    stack = Stack(keep=args.keep)
    try:
        print(f"locust run: starting redis-server and PostgreSQL in {stack.dir}", flush=True)
        stack.start()
        app_env = stack.env(
            NODE_ID="locust-hub",
            HEARTBEAT_INTERVAL_MS=int(args.heartbeat_every * 1000),
            # Every simulated client comes from 127.0.0.1.
            WS_MAX_CONNECTIONS_PER_IP=1_000_000,
            WS_CONNECTS_PER_IP_PER_MINUTE=1_000_000,
        )
        hub = stack.start_uvicorn("realtime", "realtime.app:app", app_env, cpus=None)
        api = stack.start_uvicorn("api", "api.app:app", app_env, cpus=None)
        if (ROOT / "workers" / "main.py").exists():
            stack.start_app(
                "worker",
                [str(VENV_BIN / "arq"), "workers.main.WorkerSettings"],
                app_env,
                port=None,
                cpus=None,
                healthy=False,
            )
        print(
            f"locust run: hub :{hub.port}, api :{api.port}; {args.users} users for "
            f"{args.run_time}; reports {prefix.relative_to(ROOT)}*",
            flush=True,
        )
        env = dict(app_env)
        env.update(
            HUB_URL=f"http://127.0.0.1:{hub.port}",
            HEARTBEAT_EVERY_S=str(args.heartbeat_every),
            CONTENT_IDS=",".join(map(str, stack.content_ids)),
        )
        argv_locust = [
            str(VENV_BIN / "locust"),
            "-f",
            str(ROOT / "loadtests" / "locustfile.py"),
            "--headless",
            "-u",
            str(args.users),
            "-r",
            str(args.spawn_rate),
            "-t",
            args.run_time,
            "--stop-timeout",
            "15",
            "-H",
            f"http://127.0.0.1:{api.port}",
            "--csv",
            str(prefix),
            "--csv-full-history",
            "--html",
            f"{prefix}.html",
            "--only-summary",
        ]
        code = subprocess.run(argv_locust, cwd=ROOT, env=env, check=False).returncode
        for app in stack.apps:
            if app.proc.poll() is not None:
                print(f"locust run: {app.name} exited with {app.proc.returncode}:\n{app.tail()}")
                code = code or 1
        print(
            f"locust run: reports in {prefix.relative_to(ROOT)}_stats.csv, "
            f"_failures.csv, _stats_history.csv and .html",
            flush=True,
        )
        return code
    finally:
        stack.stop()
        if args.keep:
            print(f"locust run: servers' folder and logs kept in {stack.dir}")


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
