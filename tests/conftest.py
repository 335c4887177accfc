"""Shared fixtures: real Redis and PostgreSQL servers started once per session, app processes
on free ports, tokens, and a per-test clean slate.

No fakes: `redis_server` is a redis-server process, `pg_server` a PostgreSQL cluster migrated
once through Alembic, `spawn` runs the real uvicorn apps. A test that asks for neither server
(directly or through another fixture) starts nothing, so pure unit tests stay instant.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from devkit.procs import AppProcess, Proc, child_env, resolve_argv
from devkit.servers import PostgresServer, RedisClusterServers, RedisServer, redis_command

# A fixed secret (>= 32 bytes), so a token printed by a failing test can be checked by hand.
TEST_JWT_SECRET = "test-only-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def _in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn` in a fresh thread: for code that calls asyncio.run() (Alembic's env does), which
    must not touch the event loop pytest-asyncio keeps in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Remember each phase's report, so fixtures can tell at teardown whether the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


# --- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the whole session, no persistence (`--save "" --appendonly no`).
    `.url`, `.port`, `.stop()`, `.start()` (same port and folder), `.kill()` (SIGKILL)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A real 3-master Redis Cluster for the whole session (`.url`, `.ports`, `.nodes`)."""
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.kill()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session (as the `postgres` OS user when root,
    fsync off), database `watch` migrated to head once through Alembic.
    `.url` (postgresql+asyncpg://postgres@127.0.0.1:PORT/watch), `.dsn`, `.stop()`,
    `.start()`, `.kill()`, `.createdb(name)`, `.dropdb(name)`, `.url_for(name)`, `.psql(sql)`."""
    from core.migrate import upgrade

    # Under /tmp: pytest's own tmp folders are private to root, and postgres must reach it.
    base = Path(tempfile.mkdtemp(prefix="watch-test-pg-", dir="/tmp"))
    base.chmod(0o755)
    server = PostgresServer(base / "data", fsync=False, log_path=base / "postgres.log")
    try:
        server.start()
        _in_thread(upgrade, server.url, verbose=False)
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def make_redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Factory for extra redis-servers that live for one test, e.g. a second one with AOF:
    `make_redis_server(aof=True)` (`appendonly yes`, `appendfsync everysec`)."""
    servers: list[RedisServer] = []

    def make(
        *, aof: bool = False, extra_args: Sequence[str] = (), port: int | None = None
    ) -> RedisServer:
        server = RedisServer(
            tmp_path / f"redis-{len(servers)}", aof=aof, extra_args=extra_args, port=port
        )
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def make_database(pg_server: PostgresServer) -> Iterator[Callable[..., str]]:
    """Factory for a throwaway database on `pg_server`, dropped after the test:
    `url = make_database(migrate=True)` (asyncpg URL; `migrate` runs Alembic to head)."""
    from core.migrate import upgrade

    created: list[str] = []

    def make(*, migrate: bool = False) -> str:
        name = f"scratch_{uuid.uuid4().hex[:12]}"
        url = pg_server.createdb(name)
        created.append(name)
        if migrate:
            _in_thread(upgrade, url, verbose=False)
        return url

    yield make
    for name in created:
        if pg_server.running:
            pg_server.dropdb(name)


# --- configuration ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def env(redis_server: RedisServer, pg_server: PostgresServer) -> dict[str, str]:
    """Environment variables of the app processes (timings at their defaults; override them
    per process through `spawn(..., env_overrides={...})`). Do not mutate: copy it.
    Multi-account review is off: tests run many accounts from 127.0.0.1, most on one device
    id; the review tests turn it on (REVIEW_ACCOUNTS_PER_DEVICE / _PER_IP)."""
    return {
        "DATABASE_URL": pg_server.url,
        "REDIS_URL": redis_server.url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "REVIEW_ACCOUNTS_PER_DEVICE": "0",
        "REVIEW_ACCOUNTS_PER_IP": "0",
    }


@pytest.fixture(scope="session")
def settings(env: dict[str, str]) -> Any:
    """`core.settings.load_settings(env)`."""
    from core.settings import load_settings

    return load_settings(env)


@pytest.fixture
def make_settings(settings: Any) -> Callable[..., Any]:
    """`make_settings(reward_interval_ms=2000, ...)`: the test Settings with fields replaced."""
    import msgspec

    def make(**overrides: Any) -> Any:
        return msgspec.structs.replace(settings, **overrides)

    return make


@pytest.fixture(scope="session")
def token(settings: Any) -> Callable[..., str]:
    """`token(user_id, roles=("viewer",), ttl_s=3600, **kw)`: an access token signed for
    the test settings (kw goes to core.tokens.issue_access: now=, typ=, extra=)."""
    from core.tokens import issue_access

    def make(user_id: int, roles: Sequence[str] = ("viewer",), ttl_s: int = 3600, **kw: Any) -> str:
        return issue_access(settings, user_id, tuple(roles), ttl_s=ttl_s, **kw)

    return make


# --- clean slate -----------------------------------------------------------------------------

_TRUNCATE_ALL = """
DO $$
DECLARE tables text;
BEGIN
  SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables
  FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version';
  IF tables IS NOT NULL THEN
    EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
  END IF;
END $$;
"""


async def _truncate_all(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        # A test that left a transaction open elsewhere makes this fail loudly, not hang.
        await conn.execute("SET lock_timeout = '10s'")
        await conn.execute(_TRUNCATE_ALL)
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> None:
    """Before each test that uses a server: FLUSHALL Redis, TRUNCATE every table but
    alembic_version (RESTART IDENTITY CASCADE). A server that a previous test left stopped is
    started again first. Tests that use no server start none."""
    names = request.fixturenames
    if "redis_server" in names:
        server: RedisServer = request.getfixturevalue("redis_server")
        if not server.running:
            server.start()
        redis_command(server.port, "FLUSHALL")
    if "redis_cluster" in names:
        request.getfixturevalue("redis_cluster").flushall()
    if "pg_server" in names:
        pg: PostgresServer = request.getfixturevalue("pg_server")
        if not pg.running:
            pg.start()
        _in_thread(asyncio.run, _truncate_all(pg.dsn))


# --- clients ---------------------------------------------------------------------------------


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Any]:
    """redis.asyncio.Redis on `redis_server` (bytes replies), closed after the test."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server.url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def engine(pg_server: PostgresServer) -> AsyncIterator[Any]:
    """An AsyncEngine on the migrated test database (session-wide, pre-ping on)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    eng = create_async_engine(pg_server.url, pool_size=5, max_overflow=10, pool_pre_ping=True)
    try:
        yield eng
    finally:
        await eng.dispose()


# --- app processes ---------------------------------------------------------------------------


def _report_and_kill(request: pytest.FixtureRequest, procs: list[Proc]) -> None:
    failed = _failed(request)
    for proc in procs:
        if proc.running:
            proc.kill()
        if failed:
            print(f"\n===== {proc.name} (exit {proc.returncode}) =====\n{proc.output_tail(80)}")


@pytest.fixture
def spawn(
    env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., AppProcess]]:
    """`spawn("realtime.app:app", env_overrides={...}, port=None, wait=True, timeout=20,
    extra_args=())` runs `python -m uvicorn APP --host 127.0.0.1 --port P --no-access-log`
    with env = `env` + overrides (None removes a variable), waits for GET /health == 200, and
    returns an AppProcess: `.url`, `.ws_url`, `.port`, `.proc`, `.terminate()`, `.kill()`,
    `.stderr_text()`. Whatever still runs at teardown is killed; on failure its output is
    printed."""
    procs: list[Proc] = []

    def start(
        app: str,
        env_overrides: Mapping[str, str | None] | None = None,
        *,
        port: int | None = None,
        wait: bool = True,
        timeout: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> AppProcess:
        proc = AppProcess(
            app,
            child_env(env, env_overrides),
            tmp_path / "procs",
            port=port,
            extra_args=extra_args,
        )
        procs.append(proc)
        if wait:
            proc.wait_healthy(timeout)
        return proc

    yield start
    _report_and_kill(request, procs)


@pytest.fixture
def spawn_cmd(
    env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Proc]]:
    """`spawn_cmd(["arq", "workers.main.WorkerSettings"], env_overrides={...})` starts a
    non-HTTP process (bare names resolve in the venv's bin first; `python` is this
    interpreter) with the same env rules as `spawn`, without waiting for anything."""
    procs: list[Proc] = []

    def start(argv: Sequence[str], env_overrides: Mapping[str, str | None] | None = None) -> Proc:
        argv = resolve_argv(argv)
        name = f"{Path(argv[0]).name}-{len(procs)}"
        proc = Proc(argv, child_env(env, env_overrides), tmp_path / "procs", name)
        procs.append(proc)
        return proc

    yield start
    _report_and_kill(request, procs)


# Short leases and claim times so that take-overs happen within a test; no metrics server
# unless a test asks for one. Partitions: the worker tests' 16 (hub tests pass their 8).
FAST_WORKER = {
    "REDIS_PARTITIONS": "16",
    "WORKER_METRICS_PORT": "0",
    "WORKER_LEASE_MS": "1500",
    "WORKER_CLAIM_IDLE_MS": "2000",
    "WORKER_POLL_MS": "20",
    "WORKER_SHUTDOWN_S": "5",
    "LOG_FORMAT": "text",
}


@pytest.fixture
def worker(spawn_cmd: Callable[..., Proc]) -> Callable[..., Proc]:
    """`worker(**env)` starts `arq workers.main.WorkerSettings` with FAST_WORKER timings: the
    drain from the outbox to the ledger, for every test that checks money in PostgreSQL."""

    def start(**overrides: str) -> Proc:
        return spawn_cmd(["arq", "workers.main.WorkerSettings"], {**FAST_WORKER, **overrides})

    return start
