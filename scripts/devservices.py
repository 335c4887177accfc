"""Local dev run: redis-server and PostgreSQL with data under .run/, then the app processes.

    python -m scripts.devservices run        (what scripts/run.sh does after install.sh)
    python -m scripts.devservices services   (only Redis + PostgreSQL, migrated and seeded;
                                              `source .run/env` to run the apps by hand)

Run it from the project root (it imports devkit.servers, shared with the tests).

Steps of `run`: start redis-server (AOF, appendfsync everysec) and PostgreSQL on free local
ports (the ports of the last run when still free, so the URLs stay the same), `alembic upgrade
head`, seed the demo catalog, start the realtime hub (8001 or the next free port), the api
(8000 or the next free port) and the arq worker (its metrics on 9108 or the next free port),
each only when its module exists, print the URLs (every process's /metrics too) and dev
tokens, then wait. Ctrl-C or SIGTERM stops everything in order: apps first (they
drain), then PostgreSQL and Redis. Logs go to .run/logs/.

Configuration from the environment passes through to the apps (e.g. REWARD_INTERVAL_MS=5000),
except DATABASE_URL, REDIS_URL and JWT_SECRET, which point at these servers (the secret is
generated once and kept in .run/jwt_secret). HOST=0.0.0.0 makes the apps listen on all
interfaces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from core import launch
from devkit.procs import Proc, http_status
from devkit.servers import (
    PostgresServer,
    RedisServer,
    ServerError,
    free_port,
    port_is_free,
)

ROOT = Path(__file__).resolve().parents[1]

RUN = Path(os.environ.get("WATCH_RUN_DIR") or ROOT / ".run")
LOGS = RUN / "logs"
VENV_BIN = Path(sys.executable).parent
TOKEN_TTL_S = 24 * 3600


def log(msg: str) -> None:
    print(f"run: {msg}", flush=True)


# --- state kept in .run/ ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def jwt_secret() -> str:
    path = RUN / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def pick_port(preferred: int | None, *, exclude: frozenset[int] | set[int] = frozenset()) -> int:
    if preferred and preferred not in exclude and port_is_free(preferred):
        return preferred
    while True:
        port = free_port()
        if port not in exclude:
            return port


def next_free_port(start: int, *, exclude: set[int]) -> int:
    port = start
    while port in exclude or not port_is_free(port):
        port += 1
    return port


def pg_data_dir(probe: PostgresServer) -> Path:
    """.run/pgdata, unless the `postgres` OS user cannot reach it (a checkout under a private
    home folder, when we run as root): then a folder under /var/tmp named after the checkout."""
    if probe.reachable():
        return probe.data_dir
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    base = Path("/var/tmp") / f"watch-hub-{digest}"
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    log(f"the postgres user cannot reach {probe.data_dir}; PostgreSQL data goes to {base}/pgdata")
    return base / "pgdata"


class RunLock:
    """.run/run.pid: one dev run per checkout (PostgreSQL would refuse a second one anyway)."""

    def __init__(self) -> None:
        self.path = RUN / "run.pid"

    def acquire(self) -> None:
        try:
            other = int(self.path.read_text().strip())
        except (OSError, ValueError):
            other = 0
        if other and other != os.getpid():
            try:
                os.kill(other, 0)
            except ProcessLookupError:
                pass
            except PermissionError:
                raise SystemExit(f"run: already running (pid {other}); stop it first") from None
            else:
                raise SystemExit(f"run: already running (pid {other}); stop it first")
        self.path.write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except OSError:
            pass


# --- app processes ------------------------------------------------------------------------------


class App(Proc):
    """One app process of the dev run, its output in .run/logs/<name>.log."""

    def __init__(
        self,
        name: str,
        label: str,
        argv: list[str],
        env: dict[str, str],
        port: int | None = None,
        *,
        metrics_port: int | None = None,
    ) -> None:
        # SIGTERM when the dev run dies: Ctrl-C reaches us only, and we stop the apps in order.
        super().__init__(
            argv, env, LOGS, name, port=port, one_log=True, parent_death=signal.SIGTERM
        )
        self.label = label
        self.reported_exit = False
        # Where its Prometheus metrics are: the app's own port, or the worker's metrics port.
        self.metrics_port = metrics_port or port

    def tail(self, lines: int = 15) -> str:
        return "\n".join("    " + line for line in self.output_tail(lines).splitlines())

    def stop(self, timeout: float = 20.0) -> int:
        code = self.terminate(timeout)
        if code == -signal.SIGKILL:
            log(f"{self.label} did not stop in {timeout:.0f}s; killed it")
        return code


def _answers(app: App, port: int, host: str, timeout: float) -> bool:
    """GET /metrics on `port` answers 200 within `timeout` s while `app` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and app.proc.poll() is None:
        if http_status(port, "/metrics", host=host) == 200:
            return True
        time.sleep(0.1)
    return False


def app_env(secret: str, redis: RedisServer, pg: PostgresServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=pg.url,
        REDIS_URL=redis.url,
        JWT_SECRET=secret,
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("LOG_FORMAT", "text")  # readable .run/logs; containers log JSON
    return env


def write_env_file(env: dict[str, str]) -> None:
    keys = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET"]
    lines = ["# Written by scripts/run.sh: `source .run/env` to run a process by hand."]
    lines += [f"export {k}='{env[k]}'" for k in keys]
    path = RUN / "env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


# --- the run ------------------------------------------------------------------------------------


class DevRun:
    def __init__(self, *, apps: bool) -> None:
        self.with_apps = apps
        self.stop_event = threading.Event()
        self.redis: RedisServer | None = None
        self.pg: PostgresServer | None = None
        self.apps: list[App] = []
        self.lock = RunLock()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_event.set()

    def start_servers(self) -> dict[str, str]:
        RUN.mkdir(parents=True, exist_ok=True)
        LOGS.mkdir(parents=True, exist_ok=True)
        saved = _read_json(RUN / "ports.json")
        secret = jwt_secret()

        self.redis = RedisServer(
            RUN / "redis",
            port=pick_port(saved.get("redis")),
            aof=True,
            log_path=LOGS / "redis.log",
        )
        self.redis.start()
        log(f"redis-server   {self.redis.url}  (AOF everysec, data in {self.redis.data_dir})")

        probe = PostgresServer(RUN / "pgdata")
        pg_port = pick_port(saved.get("postgres"), exclude={self.redis.port})
        self.pg = PostgresServer(pg_data_dir(probe), port=pg_port, log_path=LOGS / "postgres.log")
        self.pg.start(timeout=60)
        log(f"PostgreSQL     {self.pg.url}  (data in {self.pg.data_dir})")
        (RUN / "ports.json").write_text(
            json.dumps({"redis": self.redis.port, "postgres": self.pg.port}) + "\n"
        )

        from core.migrate import upgrade

        log("alembic upgrade head")
        upgrade(self.pg.url, verbose=True)

        import asyncio

        from scripts.seed import seed

        done = asyncio.run(seed(self.pg.url))
        log(
            f"seed: {done['contents']} demo contents and {done['users']} users inserted "
            "(nothing when already there)"
        )

        env = app_env(secret, self.redis, self.pg)
        write_env_file(env)
        return env

    def start_apps(self, env: dict[str, str]) -> None:
        host = os.environ.get("HOST", "127.0.0.1")
        python = str(VENV_BIN / "python")
        used = {self.redis.port, self.pg.port} if self.redis and self.pg else set()
        specs: list[tuple[launch.Process, str, int]] = [
            ("realtime", "realtime hub", launch.PORTS["realtime"]),
            ("api", "REST api", launch.PORTS["api"]),
        ]
        hub_port = 0
        for name, label, default_port in specs:
            port = next_free_port(default_port, exclude=used)
            used.add(port)
            if name == "realtime":  # the player page on the hub reads the api's catalog
                hub_port = port
                env.setdefault("CORS_ORIGINS", f"http://127.0.0.1:{port},http://localhost:{port}")
            if name == "api":
                self.sign_in_env(env, port, hub_port, used, python)
            argv = launch.command(name, "--host", host, "--port", str(port), python=python)
            self.apps.append(App(name, label, argv, env, port))
        self.apps.append(self._worker(env, host, python, used))

        probe_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        for app in self.apps:
            if app.port is None:
                continue
            if app.healthy(30, probe_host):
                log(f"{app.label} up on port {app.port}")
            else:
                code = app.proc.poll()
                why = f"exited with code {code}" if code is not None else "no /health in 30 s"
                log(f"{app.label} FAILED to start ({why}); see {app.log_path}:\n{app.tail()}")
                app.reported_exit = True
        for app in self.apps:
            if app.port is None:
                if app.metrics_port:  # up once its metrics answer (after its configuration)
                    up = _answers(app, app.metrics_port, probe_host, 30)
                else:
                    time.sleep(2)  # give the worker a moment to fail on its configuration
                    up = app.proc.poll() is None
                if up:
                    where = f", metrics on port {app.metrics_port}" if app.metrics_port else ""
                    log(f"{app.label} running (pid {app.proc.pid}{where})")
                else:
                    code = app.proc.poll()
                    why = f"exit {code}" if code is not None else "no metrics in 30 s"
                    log(f"{app.label} FAILED to start ({why}); see {app.log_path}:\n{app.tail()}")
                    app.reported_exit = True

    def _worker(self, env: dict[str, str], host: str, python: str, used: set[int]) -> App:
        """The arq worker, its metrics on WORKER_METRICS_PORT (9108) or the next free port,
        on the apps' host; WORKER_METRICS_PORT=0 in the environment turns them off."""
        wanted = os.environ.get("WORKER_METRICS_PORT", "").strip()
        start = int(wanted) if wanted.isdigit() else launch.WORKER_METRICS_PORT
        port = next_free_port(start, exclude=used) if start else 0
        if port:
            used.add(port)
        worker_env = {**env, "WORKER_METRICS_PORT": str(port)}
        worker_env.setdefault("WORKER_METRICS_ADDR", host)
        argv = launch.command("workers", python=python)
        return App("worker", "arq worker", argv, worker_env, metrics_port=port or None)

    def sign_in_env(
        self, env: dict[str, str], api_port: int, hub_port: int, used: set[int], python: str
    ) -> None:
        """The pages sign in with the refresh cookie (docs/pages.md, "Signing in"); social
        logins land back on the page that started them. DEMO_OIDC=1 also starts the local
        OpenID Connect provider (devkit/servers/oidc.py, with its consent page) as "Google"."""
        api, hub = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{hub_port}"
        env.setdefault("REFRESH_COOKIE", "1")
        # The player comes back with its query (the api base) when it had one.
        env.setdefault("OAUTH_RESULT_URL", f"{api}/admin,{hub}/player,{hub}/player?api={api}")
        if os.environ.get("DEMO_OIDC") != "1":
            return
        port = next_free_port(8009, exclude=used)
        used.add(port)
        secret = secrets.token_urlsafe(24)
        argv = [python, "-m", "uvicorn", "--factory", "devkit.servers.oidc:create_app"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        oidc_env = {**env, "OIDC_CLIENT_SECRET": secret, "OIDC_CONSENT": "1"}
        self.apps.append(App("oidc", "demo OIDC provider", argv, oidc_env, port))
        env.update(
            OAUTH_GOOGLE_CLIENT_ID="demo-client",
            OAUTH_GOOGLE_CLIENT_SECRET=secret,
            OAUTH_GOOGLE_ISSUER=f"http://127.0.0.1:{port}",
            OAUTH_GOOGLE_REDIRECT_URL=f"{api}/api/auth/google/callback",
        )

    def banner(self, env: dict[str, str]) -> None:
        from core.settings import load_settings
        from core.tokens import issue_access
        from scripts.seed import DEV_ADMIN_ID, DEV_VIEWER_ID

        settings = load_settings(env)
        viewer = issue_access(settings, DEV_VIEWER_ID, ("viewer",), ttl_s=TOKEN_TTL_S)
        admin = issue_access(settings, DEV_ADMIN_ID, ("admin", "viewer"), ttl_s=TOKEN_TTL_S)
        for name, tok in (("viewer.token", viewer), ("admin.token", admin)):
            path = RUN / name
            path.write_text(tok + "\n")
            path.chmod(0o600)

        host = os.environ.get("HOST", "127.0.0.1")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        by_name = {a.name: a for a in self.apps if a.proc.poll() is None}
        hub = by_name.get("realtime")
        api = by_name.get("api")
        hub_port = hub.port if hub else 8001
        lines = ["", "=" * 78, "watch-hub dev run", ""]
        if hub:
            lines.append(f"  realtime hub   http://{shown}:{hub.port}   ws://{shown}:{hub.port}/ws")
            lines.append(f"  player page    http://{shown}:{hub.port}/player  (docs/pages.md)")
        if api:
            lines.append(
                f"  REST api       http://{shown}:{api.port}   docs: http://{shown}:{api.port}/docs"
            )
            lines.append(f"  admin console  http://{shown}:{api.port}/admin")
        if "oidc" in by_name:
            lines.append(
                f"  demo provider  http://127.0.0.1:{by_name['oidc'].port}"
                '  ("Sign in with Google" on the pages: its consent page, then back)'
            )
        if "worker" in by_name:
            lines.append("  arq worker     running")
        metrics = [a for a in self.apps if a.name in by_name and a.metrics_port]
        for n, app in enumerate(metrics):
            head = "  metrics        " if n == 0 else " " * 17
            lines.append(f"{head}http://{shown}:{app.metrics_port}/metrics   ({app.label})")
        assert self.redis and self.pg
        lines += [
            f"  Redis          {self.redis.url}",
            f"  PostgreSQL     {self.pg.url}",
            f"  logs           {LOGS}/",
            f"  env            source {RUN}/env   (DATABASE_URL, REDIS_URL, JWT_SECRET)",
            "",
            f"  viewer token (user {DEV_VIEWER_ID}, 24 h; also in {RUN}/viewer.token):",
            f"    {viewer}",
            f"  admin token (user {DEV_ADMIN_ID}, 24 h; also in {RUN}/admin.token):",
            f"    {admin}",
            "",
            "  Connect with websocat, then type the JSON lines:",
            (
                f'    websocat -H "Authorization: Bearer $(cat {RUN}/viewer.token)" '
                f"ws://{shown}:{hub_port}/ws"
            ),
            '    {"type":"start","content_id":1,"tab_id":"t1","device_id":"d1"}',
            '    {"type":"heartbeat","playing":true,"visible":true}',
            "",
            "  or with Python:",
            "    .venv/bin/python - <<'PY'",
            "    import json; from websockets.sync.client import connect",
            f"    tok = open('{RUN}/viewer.token').read().strip()",
            (
                f"    with connect('ws://{shown}:{hub_port}/ws', "
                "additional_headers={'Authorization': 'Bearer ' + tok}) as ws:"
            ),
            "        print(ws.recv())  # hello",
            (
                "        ws.send(json.dumps({'type': 'start', 'content_id': 1, 'tab_id': 't1', "
                "'device_id': 'd1'})); print(ws.recv())"
            ),
            (
                "        ws.send(json.dumps({'type': 'heartbeat', 'playing': True, "
                "'visible': True})); print(ws.recv())"
            ),
            "    PY",
        ]
        if api:
            lines += [
                "",
                f"  curl -s http://{shown}:{api.port}/api/contents",
            ]
        lines += ["", "Ctrl-C stops everything.", "=" * 78, ""]
        print("\n".join(lines), flush=True)

    def watch(self) -> None:
        while not self.stop_event.wait(1.0):
            for app in self.apps:
                code = app.proc.poll()
                if code is not None and not app.reported_exit:
                    app.reported_exit = True
                    log(f"{app.label} exited with code {code}; see {app.log_path}:\n{app.tail()}")
            for label, server in (("redis-server", self.redis), ("PostgreSQL", self.pg)):
                if (
                    server is not None
                    and server.proc is not None
                    and server.proc.poll() is not None
                ):
                    log(f"{label} exited with code {server.proc.returncode}; stopping")
                    server.proc = None
                    self.stop_event.set()

    def shutdown(self) -> None:
        # Apps first, in reverse start order, so they can drain and write to PostgreSQL and
        # Redis while both still run; then the servers.
        drain = float(os.environ.get("DRAIN_SECONDS", "10") or 10) + 10
        for app in reversed(self.apps):
            if app.proc.poll() is None:
                log(f"stopping {app.label}")
            app.stop(drain)
        if self.pg is not None:
            log("stopping PostgreSQL")
            self.pg.stop()
        if self.redis is not None:
            log("stopping redis-server")
            self.redis.stop()
        self.lock.release()
        log("stopped")

    def run(self) -> int:
        RUN.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        code = 0
        try:
            env = self.start_servers()
            from core.settings import ConfigError, load_settings

            try:
                load_settings(env)
            except ConfigError as exc:
                log(f"configuration error: {exc}")
                return 2
            if self.with_apps:
                self.start_apps(env)
                self.banner(env)
            else:
                print(
                    f"\nRedis and PostgreSQL are up. `source {RUN}/env` and start the apps; "
                    "Ctrl-C stops the servers.\n",
                    flush=True,
                )
            if not self.stop_event.is_set():
                self.watch()
        except ServerError as exc:
            log(f"FAILED: {exc}")
            code = 1
        except Exception as exc:  # noqa: BLE001 - one clear line, then clean up
            log(f"FAILED: {type(exc).__name__}: {exc}")
            code = 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.shutdown()
        return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["run", "services"], default="run")
    args = parser.parse_args(argv)
    return DevRun(apps=args.mode == "run").run()


if __name__ == "__main__":
    sys.exit(main())
