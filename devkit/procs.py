"""Processes for tests, load tests and scripts: `Proc` (any command, with its output in
files), and `AppProcess` (the project's processes as deployed through core/launch.py, or any
other uvicorn app, on a free port).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

from core import launch
from devkit.servers import die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Variables that configure the app processes; they are dropped from the inherited environment
# so that a developer's shell (or `source .run/env`) cannot leak into a test.
APP_VARS = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "REDIS_CLUSTER",
        "ARQ_REDIS_URL",
        "PUSH_REPLAY_COUNT",
        "PUSH_REPLAY_MS",
        "JWT_SECRET",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "JWT_KEYS_FILE",
        "JWT_SIGNING_KID",
        "JWT_JWKS_URL",
        "JWT_JWKS_REFRESH_MS",
        "JWT_ROLE_MAP",
        "OAUTH_RESULT_URL",
        "OAUTH_TIMEOUT_MS",
        "REFRESH_COOKIE",
        "LOGIN_FAILURES_PER_ACCOUNT",
        "LOGIN_FAILURES_PER_IP",
        "LOGIN_LOCKOUT_MAX_S",
        "ADMIN_PASSWORD",
        "APP_TIMEZONE",
        "REWARD_INTERVAL_MS",
        "REWARD_AMOUNT",
        "HEARTBEAT_INTERVAL_MS",
        "SESSION_TTL_MS",
        "DAILY_REWARD_CAP",
        "RATE_LIMIT_PER_MINUTE",
        "ADMIN_RATE_LIMIT_PER_MINUTE",
        "WS_MAX_FRAME_BYTES",
        "WS_MAX_MESSAGES_PER_SECOND",
        "WS_SEND_QUEUE",
        "CORS_ORIGINS",
        "HTTP_BODY_TIMEOUT_MS",
        "MAX_CONCURRENT_REQUESTS",
        "FORWARDED_ALLOW_IPS",
        "REDIS_PARTITIONS",
        "REDIS_POOL_SIZE",
        "NODE_ID",
        "CONTROL_POLL_MS",
        "DRAIN_SECONDS",
        "GC_THRESHOLD",
        "WS_MAX_CONNECTIONS_PER_IP",
        "WS_CONNECTS_PER_IP_PER_MINUTE",
        "REVIEW_ACCOUNTS_PER_DEVICE",
        "REVIEW_ACCOUNTS_PER_IP",
        "REVIEW_WINDOW_HOURS",
        "AD_IMPRESSION_TTL_S",
        "AD_CLICK_WINDOW_S",
        "PG_API_URL",
        "PG_CLIENT_KEY",
        "PG_SECRET_KEY",
        "PG_WEBHOOK_SECRET",
        "PAYMENT_RETURN_URL",
        "PAYMENT_TTL_S",
    }
)


def child_env(
    base: Mapping[str, str], overrides: Mapping[str, str | None] | None
) -> dict[str, str]:
    """os.environ without app variables, plus `base`, plus `overrides` (None removes one)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in APP_VARS and not k.startswith("OAUTH_")  # the providers' variables
    }
    env.update(base)
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def http_status(
    port: int, path: str = "/health", timeout: float = 1.0, host: str = "127.0.0.1"
) -> int | None:
    """The status of GET `path` on `host`:`port`, or None when nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# The project's app processes, by their ASGI app (the name tests and load tests spawn).
PROCESSES: dict[str, launch.Process] = {"realtime.app:app": "realtime", "api.app:app": "api"}


class Proc:
    """A child process with its output in files under `log_dir` (a pipe nobody reads would
    fill up and block it), the one process wrapper of tests, load tests and scripts.

    `one_log`: stdout and stderr both go to `<name>.log`, after a start marker (a restarted
    process appends to the same file); else to `<name>.out` and `<name>.err`. `port`: the
    port it serves GET /health on (`wait_healthy`). `cpus`: pinned to these CPUs (the
    benchmark). `parent_death`: the signal it gets when this process dies."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        name: str,
        *,
        cwd: Path = ROOT,
        port: int | None = None,
        one_log: bool = False,
        cpus: Iterable[int] | None = None,
        parent_death: int = signal.SIGKILL,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        self.port = port
        log_dir.mkdir(parents=True, exist_ok=True)
        if one_log:
            self.stdout_path = self.stderr_path = self.log_path = log_dir / f"{name}.log"
        else:
            self.stdout_path = log_dir / f"{name}.out"
            self.stderr_path = self.log_path = log_dir / f"{name}.err"
        self.one_log = one_log
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            if one_log:
                self.log_start = out.tell()
                out.write(f"===== start {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
                out.flush()
            else:
                self.log_start = err.tell()
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                self.argv,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if one_log else err,
                start_new_session=True,  # a Ctrl-C to the parent does not hit it mid-teardown
                preexec_fn=_preexec(parent_death, cpus),  # noqa: PLW1509 (prctl, affinity)
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def output_tail(self, lines: int = 60) -> str:
        """The last lines of this start's output (stderr first, then stdout)."""
        try:
            if self.one_log:
                with open(self.log_path, "rb") as f:
                    f.seek(self.log_start)
                    text = f.read().decode(errors="replace").splitlines()[1:]  # after the marker
            else:
                text = [
                    *self.stderr_text().splitlines(),
                    "--- stdout ---",
                    *self.stdout_text().splitlines(),
                ]
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    tail = output_tail

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait up to `timeout` s (then SIGKILL); return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    stop = terminate

    def kill(self) -> int:
        """SIGKILL: a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def healthy(self, timeout: float, host: str = "127.0.0.1") -> bool:
        """Wait until GET /health on `port` answers 200; False when it exits or the time is
        up (it is left running)."""
        assert self.port is not None, f"{self.name} serves no port"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if http_status(self.port, "/health", host=host) == 200:
                return True
            time.sleep(0.05)
        return False

    def wait_healthy(self, timeout: float = 20.0, host: str = "127.0.0.1") -> Self:
        """`healthy`, or kill it and raise with its output."""
        if self.healthy(timeout, host):
            return self
        if self.proc.poll() is not None:
            why = f"exited with {self.proc.returncode} before /health answered"
        else:
            self.kill()
            why = f"did not answer GET /health with 200 in {timeout}s"
        raise RuntimeError(f"{self.name} {why}:\n{self.output_tail()}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid} rc={self.returncode}>"


def _preexec(parent_death: int, cpus: Iterable[int] | None) -> Callable[[], None] | None:
    deathsig = die_with_parent(parent_death)
    cpu_set = set(cpus) if cpus is not None else None
    if not cpu_set:
        return deathsig

    def run() -> None:
        if deathsig is not None:
            deathsig()
        os.sched_setaffinity(0, cpu_set)

    return run


class AppProcess(Proc):
    """An ASGI app on 127.0.0.1 and a free port (see the `spawn` fixture): the hub and the api
    through `python -m realtime` / `python -m api` with their deployed settings, any other
    app (`module:attr`) through plain `python -m uvicorn`. `extra_args` are uvicorn's and win
    over the defaults."""

    def __init__(
        self,
        app: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.port = port or free_port()
        where = ["--host", "127.0.0.1", "--port", str(self.port)]
        process = PROCESSES.get(app)
        if process is not None:
            argv = launch.command(process, *where, *extra_args)
        else:
            argv = [sys.executable, "-m", "uvicorn", app, *where, "--no-access-log", *extra_args]
        name = f"{app.replace(':', '.')}-{self.port}"
        super().__init__(argv, env, log_dir, name, port=self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def resolve_argv(argv: Sequence[str]) -> list[str]:
    """A bare command name is looked up in the venv's bin folder first (`arq`, `alembic`),
    and `python` means this interpreter."""
    argv = list(argv)
    if not argv:
        raise ValueError("empty argv")
    head = argv[0]
    if head in ("python", "python3"):
        argv[0] = sys.executable
    elif os.sep not in head and (VENV_BIN / head).exists():
        argv[0] = str(VENV_BIN / head)
    return argv
