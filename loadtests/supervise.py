"""A small process supervisor for the fault drills: it restarts any process of the system that
dies, like systemd's `Restart=always` or compose's `restart: always` would in a deployment.

Each supervised unit (redis-server, PostgreSQL, a hub, the api, the worker) is watched by its
own asyncio task, every 0.1 s. When it has exited, the task waits (0.5 s, doubling up to 5 s
while the process keeps dying within 10 s of its start, as Docker's restart backoff does),
starts it again on the same port and data, and records the restart. A process that is alive
but stopped (SIGSTOP) or wedged is *not* restarted: the supervisor only sees exits, exactly
like the real ones; the drill detects wedged processes through their readiness instead.
Restarts are bounded (MAX_RESTARTS per unit and run); past that the unit is given up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.procs import Proc
from devkit.servers import PostgresServer, RedisServer
from loadtests.stack import app_process

POLL_S = 0.1
RESTART_DELAY_S = (0.5, 5.0)  # first delay, cap
STABLE_S = 10.0  # a process that ran this long gets the short delay again
MAX_RESTARTS = 30


@dataclass
class Restart:
    at: float  # unix time of the restart attempt
    exit_code: int | None  # of the process that died (negative: killed by that signal)
    uptime_s: float  # how long it had run
    ok: bool = True
    error: str = ""


@dataclass
class Unit:
    """One supervised process: how to start it (blocking: until it serves), how to see it."""

    name: str
    restarts: list[Restart] = field(default_factory=list)
    started_at: float = 0.0
    given_up: bool = False

    def start(self) -> None:
        raise NotImplementedError

    def proc(self) -> subprocess.Popen[bytes] | None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        p = self.proc()
        return None if p is None else p.pid

    def exit_code(self) -> int | None:
        """None while the process runs (or is stopped); its exit status once it has exited."""
        p = self.proc()
        if p is None:
            return -1  # a start that failed left no process
        return p.poll()

    def signal(self, sig: int) -> None:
        """Send `sig` to the process (PostgreSQL: to its whole process group)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, sig)


class AppUnit(Unit):
    """A uvicorn app (waited for until GET /health answers) or a command without a port."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        *,
        port: int | None = None,
    ) -> None:
        super().__init__(name)
        self.argv, self.env, self.log_dir, self.port = list(argv), dict(env), log_dir, port
        self.app: Proc | None = None

    def start(self) -> None:
        self.started_at = time.time()
        self.app = app_process(self.name, self.argv, self.env, self.log_dir, port=self.port)
        if self.port is not None:
            self.app.wait_healthy(30)

    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.app is None else self.app.proc

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()

    def tail(self, lines: int = 30) -> str:
        return "" if self.app is None else self.app.tail(lines)


class ServerUnit(Unit):
    """A data server on its port and folder (devkit.servers): a restart of redis-server
    loads the AOF it left, one of PostgreSQL runs crash recovery from the WAL (fsync on)."""

    def __init__(
        self, name: str, server: RedisServer | PostgresServer, start_timeout: float
    ) -> None:
        super().__init__(name)
        self.server = server
        self.start_timeout = start_timeout

    def start(self) -> None:
        if self.server.proc is not None and self.server.proc.poll() is not None:
            self.server.proc = None
        self.started_at = time.time()
        self.server.start(timeout=self.start_timeout)

    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.server.proc

    def stop(self) -> None:
        self.server.stop()


class RedisUnit(ServerUnit):
    def __init__(self, server: RedisServer) -> None:
        super().__init__("redis", server, start_timeout=10)


class PostgresUnit(ServerUnit):
    """The PostgreSQL postmaster: signals go to its whole process group."""

    def __init__(self, server: PostgresServer) -> None:
        super().__init__("postgres", server, start_timeout=60)

    def signal(self, sig: int) -> None:
        # The postmaster and its backends share a process group (start_new_session): a whole
        # container or cgroup dies at once, and lingering backends would block the restart.
        pid = self.pid
        if pid is not None:
            os.killpg(pid, sig)


class Supervisor:
    """Restart units that exit; `events` is called with (kind, unit name, detail dict)."""

    def __init__(
        self, units: Sequence[Unit], on_event: Callable[[str, str, dict[str, Any]], None]
    ) -> None:
        self.units = list(units)
        self.on_event = on_event
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch(u)) for u in self.units]

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def unit(self, name: str) -> Unit:
        return next(u for u in self.units if u.name == name)

    async def _watch(self, unit: Unit) -> None:
        delay = RESTART_DELAY_S[0]
        while not self._closing:
            await asyncio.sleep(POLL_S)
            code = unit.exit_code()
            if code is None:
                continue
            uptime = time.time() - unit.started_at
            if uptime >= STABLE_S:
                delay = RESTART_DELAY_S[0]
            if len(unit.restarts) >= MAX_RESTARTS:
                unit.given_up = True
                self.on_event("given_up", unit.name, {"restarts": len(unit.restarts)})
                return
            self.on_event("exited", unit.name, {"exit_code": code, "uptime_s": round(uptime, 2)})
            await asyncio.sleep(delay)
            delay = min(RESTART_DELAY_S[1], delay * 2)
            record = Restart(time.time(), code, round(uptime, 2))
            try:
                await asyncio.to_thread(unit.start)
            except Exception as exc:  # noqa: BLE001 - recorded; the next round tries again
                record.ok, record.error = False, f"{type(exc).__name__}: {exc}"[:500]
            unit.restarts.append(record)
            self.on_event(
                "restarted" if record.ok else "restart_failed",
                unit.name,
                {"exit_code": code, "error": record.error},
            )


def stop_all(units: Sequence[Unit]) -> None:
    """Stop units in reverse order; a unit that was SIGSTOPped is continued first."""
    for unit in reversed(units):
        try:
            if unit.exit_code() is None:
                unit.signal(signal.SIGCONT)
            unit.stop()
        except Exception as exc:  # noqa: BLE001 - best effort at the end of a run
            print(f"stopping {unit.name} failed: {exc!r}")
