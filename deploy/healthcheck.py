"""The image's HEALTHCHECK, for every process the image runs (docker-entrypoint.sh).

It finds the app in the container's process table (`python -m realtime|api|workers`, as the
entry point starts them, or a plain `uvicorn` / `arq` command line): for an app it asks GET
/health on its port (--port, else $PORT, else the process's default) (liveness only: /ready, which checks Redis and PostgreSQL, is for load
balancers, not for restarting containers); for arq it runs `arq --check SETTINGS`, which
passes while the worker keeps refreshing its health key in Redis. A container running
neither (migrate, a shell) is healthy. Exit 0 healthy, 1 not. Standard library only.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 4.0


def _processes() -> list[tuple[int, list[str]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        if argv:
            found.append((int(entry.name), argv))
    return sorted(found)


def _option(argv: list[str], name: str, default: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def _http_ok(port: int, path: str = "/health") -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


# What `python -m <process>` runs (core/launch.py): the app's default port, or the worker.
LAUNCHED = {"realtime": "8001", "api": "8000", "workers": ""}
WORKER_SETTINGS = "workers.main.WorkerSettings"


def _check_http(argv: list[str], default_port: str) -> tuple[bool, str]:
    port = int(_option(argv, "--port", os.environ.get("PORT", default_port)))
    ok = _http_ok(port)
    return ok, f"app :{port} /health {'ok' if ok else 'failed'}"


def _check_arq(target: str) -> tuple[bool, str]:
    rc = subprocess.run(
        ["arq", "--check", target], check=False, capture_output=True, timeout=TIMEOUT_S * 2
    ).returncode
    return rc == 0, f"arq --check {target}: exit {rc}"


def check(processes: list[tuple[int, list[str]]]) -> tuple[bool, str]:
    for _, argv in processes:
        if len(argv) >= 3 and argv[1] == "-m" and argv[2] in LAUNCHED:
            if argv[2] == "workers":
                return _check_arq(WORKER_SETTINGS)
            return _check_http(argv, LAUNCHED[argv[2]])
        names = [Path(arg).name for arg in argv[:3]]
        if "uvicorn" in names:
            return _check_http(argv, "8000")
        if "arq" in names:
            start = names.index("arq") + 1
            return _check_arq(next((a for a in argv[start:] if not a.startswith("-")), ""))
    return True, "no app process to check"


def main() -> int:
    ok, why = check(_processes())
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
