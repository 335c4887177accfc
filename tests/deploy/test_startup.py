"""Start-up refuses a database schema older than the migration scripts' head."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import pytest

from core.migrate import script_heads, upgrade

APPS = ["realtime.app:app", "api.app:app"]


def _exit_of(proc: Any, timeout: float = 20.0) -> tuple[int, list[str]]:
    code = proc.wait(timeout)
    lines = [line for line in proc.stderr_text().splitlines() if "schema error" in line]
    return code, lines


def _in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Alembic's env calls asyncio.run(): keep it off pytest-asyncio's loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@pytest.mark.parametrize("app", APPS)
def test_refuses_an_unmigrated_database(app: str, spawn: Any, make_database: Any) -> None:
    """Against an empty database the process exits 2 with one line saying to migrate."""
    proc = spawn(app, {"DATABASE_URL": make_database()}, wait=False)
    code, lines = _exit_of(proc)
    assert code == 2, proc.output_tail()
    assert len(lines) == 1
    assert lines[0].startswith("schema error: the database has no schema")
    assert "alembic upgrade head" in lines[0]
    assert "Traceback" not in proc.stderr_text()


@pytest.mark.parametrize("app", APPS)
def test_refuses_a_schema_older_than_head(app: str, spawn: Any, make_database: Any) -> None:
    """Migrated to the first revision only, the process exits 2 naming both revisions."""
    url = make_database()
    _in_thread(upgrade, url, "0001_initial", verbose=False)
    proc = spawn(app, {"DATABASE_URL": url}, wait=False)
    code, lines = _exit_of(proc)
    assert code == 2, proc.output_tail()
    assert len(lines) == 1
    assert "at revision 0001_initial, older than" in lines[0]
    assert script_heads()[0] in lines[0]


def test_accepts_a_newer_unknown_revision(spawn: Any, make_database: Any) -> None:
    """A revision this code does not know (a newer deploy migrated first) is not refused:
    the old processes of a rolling update keep running."""
    import asyncpg

    url = make_database(migrate=True)

    async def bump() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        finally:
            await conn.close()

    _in_thread(asyncio.run, bump())
    spawn("api.app:app", {"DATABASE_URL": url})  # waits for /health


def test_worker_refuses_an_unmigrated_database(spawn_cmd: Any, make_database: Any) -> None:
    """The arq worker exits 2 with the same one line against an empty database."""

    proc = spawn_cmd(["arq", "workers.main.WorkerSettings"], {"DATABASE_URL": make_database()})
    code, lines = _exit_of(proc, timeout=30)
    assert code == 2, proc.output_tail()
    assert len(lines) == 1 and lines[0].startswith("schema error: the database has no schema")
