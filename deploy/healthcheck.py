"""The image's HEALTHCHECK, for every process the image runs (docker-entrypoint.sh).

It finds the app in the container's process table: for uvicorn it asks GET /health on the
port uvicorn was given (liveness only: /ready, which checks Redis and PostgreSQL, is for load
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


def check(processes: list[tuple[int, list[str]]]) -> tuple[bool, str]:
    for _, argv in processes:
        names = [Path(arg).name for arg in argv[:3]]
        if "uvicorn" in names:
            port = int(_option(argv, "--port", "8000"))
            ok = _http_ok(port)
            return ok, f"uvicorn :{port} /health {'ok' if ok else 'failed'}"
        if "arq" in names:
            start = names.index("arq") + 1
            target = next((a for a in argv[start:] if not a.startswith("-")), "")
            rc = subprocess.run(
                ["arq", "--check", target], check=False, capture_output=True, timeout=TIMEOUT_S * 2
            ).returncode
            return rc == 0, f"arq --check {target}: exit {rc}"
    return True, "no app process to check"


def main() -> int:
    ok, why = check(_processes())
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
