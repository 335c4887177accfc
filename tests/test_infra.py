"""The test infrastructure itself: real servers, migrations, app processes, scripts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core import migrate
from core.models import Base
from core.settings import Settings
from devkit.procs import AppProcess, Proc
from devkit.servers import PostgresServer, RedisServer

ROOT = Path(__file__).resolve().parents[1]


def _alembic(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


# --- Redis ------------------------------------------------------------------------------------


async def test_redis_answers_ping_and_keeps_values(redis: Redis) -> None:
    """The session redis-server is real: PING, SET and GET round-trip."""
    assert await redis.ping() is True
    await redis.set(b"infra:k", b"v1")
    assert await redis.get(b"infra:k") == b"v1"


async def test_redis_is_flushed_between_tests(redis: Redis) -> None:
    """`clean` runs FLUSHALL before each test that uses Redis."""
    assert await redis.get(b"infra:k") is None
    assert await redis.dbsize() == 0


def test_redis_server_restarts_on_same_port(redis_server: RedisServer) -> None:
    """stop()/start() and kill()/start() bring it back on the same port."""
    from devkit.servers import redis_command

    port = redis_server.port
    redis_server.stop()
    assert not redis_server.running
    redis_server.start()
    redis_server.kill()
    redis_server.start()
    assert redis_server.port == port
    assert redis_command(port, "PING").startswith(b"+PONG")


def test_second_redis_with_aof_survives_a_crash(
    make_redis_server: Callable[..., RedisServer],
) -> None:
    """A helper redis with AOF everysec keeps writes across SIGKILL after an fsync."""
    import time

    from devkit.servers import redis_command

    server = make_redis_server(aof=True)
    redis_command(server.port, "SET", "durable", "yes")
    time.sleep(1.5)  # past one everysec fsync
    server.kill()
    server.start()
    assert redis_command(server.port, "GET", "durable") == b"$3\r\nyes\r\n"


# --- PostgreSQL and migrations ----------------------------------------------------------------


async def test_migrated_database_has_exactly_the_model_tables(engine: AsyncEngine) -> None:
    """`alembic upgrade head` created every table of core/models.py and nothing else."""
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert names == set(Base.metadata.tables) | {"alembic_version"}


async def test_migrated_schema_matches_models(engine: AsyncEngine) -> None:
    """Autogenerate finds no difference between the migrated database and the models
    (columns, types, nullability, defaults, indexes, constraints)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(ctx, Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


@pytest.mark.parametrize("round_", [1, 2])
async def test_tables_are_truncated_between_tests(engine: AsyncEngine, round_: int) -> None:
    """`clean` truncates with RESTART IDENTITY: each round finds the table empty and the
    first id at 1 again."""
    async with engine.begin() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM contents"))).scalar() == 0
        insert = text(
            "INSERT INTO contents (title, source_url, duration_s) VALUES ('t', 'u', 1) RETURNING id"
        )
        assert (await conn.execute(insert)).scalar() == 1


async def test_alembic_cli_downgrade_and_upgrade_round_trip(
    make_database: Callable[..., str],
) -> None:
    """`alembic upgrade head`, `downgrade base`, `upgrade head` from the project root with
    DATABASE_URL set: every step works and the schema comes back whole."""
    url = make_database()
    for step in (("upgrade", "head"), ("downgrade", "base")):
        result = await asyncio.to_thread(_alembic, *step, database_url=url)
        assert result.returncode == 0, result.stderr
    assert await _table_names(url) == {"alembic_version"}
    result = await asyncio.to_thread(_alembic, "upgrade", "head", database_url=url)
    assert result.returncode == 0, result.stderr
    assert await _table_names(url) == set(Base.metadata.tables) | {"alembic_version"}


async def test_schema_is_current_false_on_empty_true_after_upgrade(
    make_database: Callable[..., str],
) -> None:
    """core.migrate.schema_is_current tells an unmigrated database from a migrated one."""
    url = make_database()
    engine = create_async_engine(url)
    try:
        assert await migrate.schema_is_current(engine) is False
        await asyncio.to_thread(migrate.upgrade, url, verbose=False)
        assert await migrate.schema_is_current(engine) is True
        assert await migrate.current_revisions(engine) == migrate.script_heads()
    finally:
        await engine.dispose()


async def test_upgrade_async_shares_the_callers_connection(
    make_database: Callable[..., str],
) -> None:
    """The connection-sharing recipe migrates from inside a running event loop."""
    url = make_database()
    engine = create_async_engine(url)
    try:
        await migrate.upgrade_async(engine)
        assert await migrate.schema_is_current(engine) is True
        await migrate.upgrade_async(engine)  # already at head: nothing to do, no error
    finally:
        await engine.dispose()


async def test_two_concurrent_migrators_serialise(make_database: Callable[..., str]) -> None:
    """Two `alembic upgrade head` at once on an empty database both succeed: the advisory
    lock makes the second wait and then find nothing to do."""
    url = make_database()
    results = await asyncio.gather(
        *(asyncio.to_thread(_alembic, "upgrade", "head", database_url=url) for _ in range(3))
    )
    for result in results:
        assert result.returncode == 0, result.stderr
    assert await _table_names(url) == set(Base.metadata.tables) | {"alembic_version"}


def test_pg_server_recovers_from_a_crash(pg_server: PostgresServer) -> None:
    """kill() (SIGKILL to the postmaster and its backends) then start() recovers the data."""
    pg_server.psql("INSERT INTO runtime_settings (key, value) VALUES ('crash', '1')")
    pg_server.psql("CHECKPOINT")
    pg_server.kill()
    assert not pg_server.running
    pg_server.start()
    assert pg_server.psql("SELECT value FROM runtime_settings WHERE key = 'crash'").strip() == "1"


# --- app processes ----------------------------------------------------------------------------


def test_spawn_starts_an_app_with_env_overrides(
    spawn: Callable[..., AppProcess], env: dict[str, str]
) -> None:
    """spawn() waits for /health, passes env + overrides, and terminate() stops it."""
    app = spawn("tests.support.health_app:app", env_overrides={"REWARD_AMOUNT": "7"})
    assert app.url == f"http://127.0.0.1:{app.port}"
    assert app.ws_url == f"ws://127.0.0.1:{app.port}"
    with httpx.Client(base_url=app.url) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/env/REWARD_AMOUNT").json() == {"value": "7"}
        assert client.get("/env/REDIS_URL").json() == {"value": env["REDIS_URL"]}
    # uvicorn re-raises SIGTERM after a graceful shutdown, so the code is 0 or -SIGTERM.
    assert app.terminate() in (0, -15)
    assert not app.running
    assert "Application shutdown complete" in app.stderr_text()


def test_spawn_reports_an_app_that_fails_to_start(spawn: Callable[..., AppProcess]) -> None:
    """An app that exits at start-up raises with its stderr in the message."""
    with pytest.raises(RuntimeError, match="HEALTH_APP_FAIL is set"):
        spawn("tests.support.health_app:app", env_overrides={"HEALTH_APP_FAIL": "1"})


def test_spawn_cmd_runs_a_plain_process(
    spawn_cmd: Callable[..., Proc], env: dict[str, str]
) -> None:
    """spawn_cmd() runs any command with the test env; None removes a variable."""
    proc = spawn_cmd(
        [
            "python",
            "-c",
            "import os; print(os.environ['DATABASE_URL'], 'JWT_SECRET' in os.environ)",
        ],
        env_overrides={"JWT_SECRET": None},
    )
    assert proc.wait(30) == 0
    assert proc.stdout_text().split() == [env["DATABASE_URL"], "False"]


def test_token_fixture_signs_for_the_test_settings(
    token: Callable[..., str], settings: Settings
) -> None:
    """token() gives an access token that core.tokens verifies with the test settings."""
    from core.tokens import verify_access

    identity = verify_access(settings, token(42, roles=("viewer", "admin")))
    assert identity.user_id == 42
    assert identity.is_admin


# --- scripts ----------------------------------------------------------------------------------


def test_test_script_fails_when_no_test_runs() -> None:
    """scripts/test.sh turns pytest's exit 5 (no test collected) into a failure."""
    result = subprocess.run(
        [
            "bash",
            "scripts/test.sh",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_infra.py",
            "-k",
            "no_test_has_this_name",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "CI": "true"},
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "no tests" in (result.stdout + result.stderr).lower()
