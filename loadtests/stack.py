"""The system under test, started by the benchmark and the locust run: redis-server and
PostgreSQL on free ports in a throwaway folder (migrated, seeded, users provisioned), and
uvicorn app processes pinned to chosen CPUs.

Reuses devkit/servers/, so it starts servers exactly like the tests and the dev run.
Every child gets PR_SET_PDEATHSIG, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

from core import launch
from devkit.procs import PROCESSES, Proc, child_env
from devkit.servers import (
    PostgresServer,
    RedisClusterServers,
    RedisServer,
    free_port,
)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
JWT_SECRET = "bench-secret-" + "x" * 40  # throwaway servers only

# The benchmark's uvicorn choices on top of the deployed settings (core/launch.py), for the
# hub, the api and the echo baseline alike (only --ws and deflate vary between runs).
BENCH_ARGS = [
    "--host",
    "127.0.0.1",
    "--log-level",
    "warning",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
]


def pin_tree(pid: int, cpus: Iterable[int]) -> None:
    """Pin a process, its threads and its current children (e.g. PostgreSQL's backends) to
    `cpus`; children forked later inherit the mask."""
    cpu_set = set(cpus)
    todo = [pid]
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    while todo:
        p = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                os.sched_setaffinity(int(tid), cpu_set)
        except OSError:
            pass
        todo.extend(children.get(p, ()))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_KIB


def core_busy() -> dict[int, float]:
    """Busy seconds of each CPU since boot (everything but idle and iowait)."""
    out: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *vals = line.split()
            v = [int(x) for x in vals]
            out[int(name[3:])] = (sum(v[:8]) - v[3] - v[4]) / CLK_TCK
    return out


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def app_process(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    cpus: Iterable[int] | None = None,
) -> Proc:
    """One app process of a load run: its output in `<name>.log`, pinned to `cpus`, and
    SIGTERM (a clean stop) when the run dies."""
    return Proc(
        argv, env, log_dir, name, port=port, cpus=cpus, one_log=True, parent_death=signal.SIGTERM
    )


def uvicorn_argv(
    target: str, port: int, *, ws: str = "websockets-sansio", deflate: bool = False
) -> list[str]:
    """The hub and the api as deployed (`python -m realtime` / `python -m api`); any other app
    (the echo baseline, the --diag wrapper) with the hub's deployed uvicorn flags. `ws` and
    `deflate` are set explicitly, so a run names what it measures."""
    if target == "realtime.app:app" and ws == "websockets-sansio":
        ws = launch.HUB_WS  # the hub's direct lane, as deployed (realtime/wsdirect.py)
    chosen = [*BENCH_ARGS, "--port", str(port), "--ws", ws]
    chosen += ["--ws-per-message-deflate", "true" if deflate else "false"]
    process = PROCESSES.get(target)
    if process is not None:
        return launch.command(process, *chosen, python=PYTHON)
    deployed = [*launch.common_flags("realtime", {}), "--ws-max-size", launch.frame_limit({})]
    return [PYTHON, "-m", "uvicorn", target, *deployed, *chosen]


class Stack:
    """redis-server + PostgreSQL in a throwaway folder, and the apps started on them."""

    def __init__(
        self,
        *,
        service_cpus: Iterable[int] | None = None,
        aof: bool = True,
        keep: bool = False,
        cluster_masters: int = 0,
    ) -> None:
        # Under /tmp: PostgreSQL runs as the `postgres` user when we are root, and must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="watch-bench-"))
        self.dir.chmod(0o755)
        self.log_dir = self.dir / "logs"
        self.service_cpus = list(service_cpus) if service_cpus is not None else None
        self.aof = aof
        self.keep = keep
        self.redis: RedisServer | None = None
        # A Redis Cluster as well (`cluster_masters` > 0), for hubs run with REDIS_CLUSTER=1.
        self.cluster_masters = cluster_masters
        self.cluster: RedisClusterServers | None = None
        self.pg: PostgresServer | None = None
        self.apps: list[Proc] = []
        self.content_ids: list[int] = []

    # Servers.

    def start(self) -> Stack:
        self.redis = RedisServer(
            self.dir / "redis", aof=self.aof, log_path=self.log_dir / "redis.log"
        )
        self.redis.start()
        if self.cluster_masters:
            self.cluster = RedisClusterServers(self.dir / "cluster", self.cluster_masters).start()
            if self.service_cpus:
                for node in self.cluster.nodes:
                    assert node.proc
                    pin_tree(node.proc.pid, self.service_cpus)
        self.pg = PostgresServer(
            self.dir / "pgdata",
            log_path=self.log_dir / "postgres.log",
            extra_conf=["max_connections=300"],
        )
        self.pg.start(timeout=60)
        if self.service_cpus:
            assert self.redis.proc and self.pg.proc
            pin_tree(self.redis.proc.pid, self.service_cpus)
            pin_tree(self.pg.proc.pid, self.service_cpus)
        from core.migrate import upgrade
        from scripts.seed import seed

        upgrade(self.pg.url, verbose=False)
        asyncio.run(seed(self.pg.url))
        rows = self.pg.psql(
            "SELECT id FROM contents WHERE reward_interval_ms IS NULL AND status = 'published' "
            "ORDER BY id"
        )
        self.content_ids = [int(x) for x in rows.split()]
        return self

    def env(self, **overrides: str | int | None) -> dict[str, str]:
        assert self.redis and self.pg
        base = {
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": self.redis.url,
            "JWT_SECRET": JWT_SECRET,
            # Multi-account review off: all load comes from a few 127.0.0.x addresses
            # (often with one device id), which it would rightly put on hold.
            "REVIEW_ACCOUNTS_PER_DEVICE": "0",
            "REVIEW_ACCOUNTS_PER_IP": "0",
        }
        return child_env(base, {k: None if v is None else str(v) for k, v in overrides.items()})

    def provision_users(self, first: int, count: int) -> None:
        """Insert user rows, as for returning viewers: the hub's per-connection provisioning
        then finds them (INSERT ... ON CONFLICT DO NOTHING writes nothing)."""
        assert self.pg
        self.pg.psql(
            "INSERT INTO users (id, roles) OVERRIDING SYSTEM VALUE "
            f"SELECT g, ARRAY['viewer'] FROM generate_series({first}, {first + count - 1}) g "
            "ON CONFLICT (id) DO NOTHING"
        )

    def flush_redis(self) -> None:
        assert self.redis
        from devkit.servers import redis_command

        redis_command(self.redis.port, "FLUSHALL")
        if self.cluster is not None:
            self.cluster.flushall()

    @property
    def redis_pids(self) -> list[int]:
        """Every redis-server of the stack (the cluster's nodes too)."""
        servers = [self.redis, *(self.cluster.nodes if self.cluster else [])]
        return [s.proc.pid for s in servers if s is not None and s.proc is not None]

    # Apps.

    def start_app(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        port: int | None,
        cpus: Iterable[int] | None,
        healthy: bool = True,
    ) -> Proc:
        app = app_process(name, argv, env, self.log_dir, port=port, cpus=cpus)
        self.apps.append(app)
        if healthy:
            app.wait_healthy(30)
        return app

    def start_uvicorn(
        self,
        name: str,
        target: str,
        env: Mapping[str, str],
        *,
        cpus: Iterable[int] | None,
        ws: str = "websockets-sansio",
        deflate: bool = False,
    ) -> Proc:
        port = free_port()
        return self.start_app(
            name, uvicorn_argv(target, port, ws=ws, deflate=deflate), env, port=port, cpus=cpus
        )

    def stop_app(self, app: Proc) -> None:
        app.stop()
        if app in self.apps:
            self.apps.remove(app)

    def tokens(
        self, user_ids: Iterable[int], roles: tuple[str, ...] = ("viewer",), ttl_s: int = 6 * 3600
    ) -> list[str]:
        from core.settings import load_settings
        from core.tokens import issue_access

        settings = load_settings(self.env())
        return [issue_access(settings, uid, roles, ttl_s=ttl_s) for uid in user_ids]

    def stop(self) -> None:
        for app in reversed(self.apps):
            app.stop()
        self.apps.clear()
        if self.pg is not None:
            self.pg.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.cluster is not None:
            for node in self.cluster.nodes:
                node.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
