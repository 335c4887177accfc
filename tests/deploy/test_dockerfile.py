"""The Dockerfile, .dockerignore, the entry point and the healthcheck, checked by parsing them
and by running the entry point and the healthcheck on this machine (no Docker engine here)."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.migrate import current_revisions, script_heads
from devkit.procs import http_status
from devkit.servers import free_port
from tests.deploy.conftest import ROOT, entrypoint_argv

CLEAN_EXIT = (0, -signal.SIGTERM)

sys.path.insert(0, str(ROOT / "deploy"))
import healthcheck  # noqa: E402  (deploy/healthcheck.py is a script, not a package)


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def _final_stage() -> list[tuple[str, str]]:
    ins = _instructions()
    last_from = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last_from:]


def test_multi_stage_slim_python_311() -> None:
    """A builder stage makes the venv; the runtime stage is a slim Python 3.11 that copies it
    from the builder (no compiler, no pip cache in the final image)."""
    ins = _instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) >= 2 and froms[0].endswith("AS builder")
    args = dict(rest.split("=", 1) for word, rest in ins if word == "ARG" and "=" in rest)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    final = _final_stage()
    assert any(w == "COPY" and "--from=builder" in r for w, r in final)
    assert not any(w == "RUN" and "pip install" in r for w, r in final)


def test_runs_as_a_non_root_user() -> None:
    """The runtime stage ends with a USER that is not root."""
    users = [rest for word, rest in _final_stage() if word == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_healthcheck_runs_the_healthcheck_script() -> None:
    """The image has a HEALTHCHECK, and the script it runs is shipped."""
    [check] = [rest for word, rest in _final_stage() if word == "HEALTHCHECK"]
    cmd = json.loads(check.split("CMD", 1)[1].strip())
    assert cmd == ["python", "/app/deploy/healthcheck.py"]
    assert (ROOT / "deploy" / "healthcheck.py").is_file()


def test_entrypoint_and_default_command() -> None:
    """ENTRYPOINT is the role script (executable), and the default role is the hub."""
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["/app/deploy/docker-entrypoint.sh"]
    assert json.loads(final["CMD"]) == ["realtime"]
    assert os.access(ROOT / "deploy" / "docker-entrypoint.sh", os.X_OK)
    assert entrypoint_argv("realtime")[:2] == ["uvicorn", "realtime.app:app"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if any(
            fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) for p in prefixes
        ):
            ignored = not negate
    return ignored


def test_dockerignore_lets_in_what_runs_and_nothing_secret() -> None:
    """Every Python package, the migrations and the deploy scripts enter the build context;
    the dev run's data and secrets, the venv, git and tests do not."""
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    needed = [p.rstrip("*") + "/x.py" for p in include] + [
        "pyproject.toml",
        "alembic.ini",
        "migrations/env.py",
        "migrations/versions/a.py",
        "live/lua/tick.lua",
        "deploy/docker-entrypoint.sh",
        "deploy/healthcheck.py",
        "scripts/seed.py",
    ]
    for path in needed:
        assert not _ignored(path, patterns), path
    for path in (
        ".run/jwt_secret",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        "core/__pycache__/x.pyc",
        "loadtests/x.py",
        ".env",
        "scripts/devservices.py",
    ):
        assert _ignored(path, patterns), path


def test_hub_flags_come_from_the_environment() -> None:
    """The hub runs on its direct-lane protocol, with --ws-max-size from WS_MAX_FRAME_BYTES,
    without per-message deflate, and trusting X-Forwarded-* only from the proxies that
    FORWARDED_ALLOW_IPS names (nobody when it is unset)."""
    argv = entrypoint_argv("realtime")
    joined = " ".join(argv)
    assert "--ws realtime.wsdirect:DirectProtocol" in joined
    assert "--ws-max-size 4096" in joined
    assert "--ws-per-message-deflate false" in joined
    assert "--no-proxy-headers" in argv and "--forwarded-allow-ips" not in argv
    argv = entrypoint_argv(
        "realtime",
        {"WS_MAX_FRAME_BYTES": "8192", "PORT": "9001", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"},
    )
    joined = " ".join(argv)
    assert "--ws-max-size 8192" in joined and "--port 9001" in joined
    assert "--forwarded-allow-ips 10.0.0.0/8" in joined and "--proxy-headers" in argv
    assert entrypoint_argv("api")[:2] == ["uvicorn", "api.app:app"]
    assert entrypoint_argv("python")[0] == "python"  # anything else runs as given


def _entrypoint(spawn_cmd: Any, role: str, env: dict[str, str]) -> Any:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return spawn_cmd(
        ["sh", str(ROOT / "deploy" / "docker-entrypoint.sh"), role],
        {"PATH": path, "HOST": "127.0.0.1", **env},
    )


def _wait_http(port: int, proc: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while http_status(port) != 200:
        assert proc.running, proc.output_tail()
        assert time.monotonic() < deadline, proc.output_tail()
        time.sleep(0.05)


async def test_entrypoint_runs_the_hub_and_sigterm_drains_within_the_grace(
    spawn_cmd: Any, token: Any, compose: dict[str, Any]
) -> None:
    """The hub started by the entry point, with compose's DRAIN_SECONDS, accepts the flags,
    serves WebSockets, answers the image's healthcheck, and on SIGTERM closes every
    connection with 1012 and exits cleanly well within compose's stop_grace_period."""
    service = compose["services"]["realtime-1"]
    drain = float(service["environment"]["DRAIN_SECONDS"])
    grace = float(service["stop_grace_period"].rstrip("s"))
    port = free_port()
    proc = _entrypoint(spawn_cmd, "realtime", {"PORT": str(port), "DRAIN_SECONDS": str(int(drain))})
    _wait_http(port, proc)
    argv = [
        "/opt/venv/bin/python",
        "/opt/venv/bin/uvicorn",
        "realtime.app:app",
        "--port",
        str(port),
    ]
    assert healthcheck.check([(1, argv)])[0]
    clients = [
        await connect(f"ws://127.0.0.1:{port}/ws?token={token(900 + i)}", open_timeout=5)
        for i in range(20)
    ]
    for ws in clients:
        assert json.loads(await ws.recv())["type"] == "hello"
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    codes = []
    for ws in clients:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            codes.append(exc.rcvd.code if exc.rcvd else None)
    # uvicorn re-raises the signal once it has shut down: "killed by SIGTERM" is its clean
    # exit (Docker shows 143), as is 0.
    assert proc.wait(grace) in CLEAN_EXIT
    took = time.monotonic() - started
    assert codes == [1012] * 20
    assert took < grace - 5, f"stop took {took:.1f}s; stop_grace_period is {grace:.0f}s"
    assert took > drain * 0.5  # the closes were spread over the drain, not sent at once
    assert not healthcheck.check([(1, argv)])[0]


def test_healthcheck_without_an_app_passes() -> None:
    """In a container running neither uvicorn nor arq (migrate, a shell) the check passes."""
    assert healthcheck.check([(1, ["sh"]), (7, ["alembic", "upgrade", "head"])])[0]


async def test_entrypoint_migrate_role_migrates(spawn_cmd: Any, make_database: Any) -> None:
    """`migrate` runs Alembic to head on DATABASE_URL and exits 0."""
    from sqlalchemy.ext.asyncio import create_async_engine

    url = make_database()
    proc = _entrypoint(spawn_cmd, "migrate", {"DATABASE_URL": url})
    assert proc.wait(60) == 0, proc.output_tail()
    engine = create_async_engine(url)
    try:
        assert set(await current_revisions(engine)) == set(script_heads())
    finally:
        await engine.dispose()


def test_entrypoint_runs_the_api(spawn_cmd: Any) -> None:
    """The api started by the entry point accepts its flags and answers /health."""
    port = free_port()
    proc = _entrypoint(spawn_cmd, "api", {"PORT": str(port)})
    _wait_http(port, proc)
    assert healthcheck.check([(1, ["uvicorn", "api.app:app", "--port", str(port)])])[0]
    assert proc.terminate() in CLEAN_EXIT
