"""Schema migrations through Alembic, for scripts and for processes at start-up.

- `upgrade(database_url)`: sync, for scripts and threads (Alembic's env runs its own event
  loop, so never call it from inside a running loop: use `upgrade_async` there).
- `upgrade_async(engine)`: the cookbook's connection-sharing recipe, inside a running loop.
- `schema_is_current(engine)`: whether the database is at the scripts' head.
- `require_current_schema_or_exit(engine)`: what the processes call at start-up: one line and
  exit status 2 when the schema is older than head (a newer, unknown revision is accepted: a
  rolling deploy migrates before the old processes are gone).

The migration scripts live in `migrations/` beside this package (the project is installed in
editable mode); `alembic.ini` at the project root configures them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"

log = logging.getLogger(__name__)


def alembic_config(database_url: str | None = None, *, configure_logger: bool = False) -> Config:
    """An Alembic Config for this project; `configure_logger=True` lets env.py apply the
    logging section of alembic.ini (what the command line does)."""
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        # ConfigParser interpolates '%', which URL-encoded passwords contain.
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = configure_logger
    return cfg


def script_heads() -> tuple[str, ...]:
    """The head revision(s) of the migration scripts."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def upgrade(database_url: str, revision: str = "head", *, verbose: bool = True) -> None:
    """Migrate the database at `database_url` (postgresql+asyncpg://...) to `revision`."""
    command.upgrade(alembic_config(database_url, configure_logger=verbose), revision)


def downgrade(database_url: str, revision: str = "base", *, verbose: bool = True) -> None:
    command.downgrade(alembic_config(database_url, configure_logger=verbose), revision)


def _upgrade_on(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade_async(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate through `engine` from inside a running event loop (one transaction)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_on, revision)


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(engine: AsyncEngine) -> tuple[str, ...]:
    """The revision(s) recorded in the database's alembic_version (empty when none)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revisions)


async def schema_is_current(engine: AsyncEngine) -> bool:
    """True when the database is exactly at the migration scripts' head(s)."""
    return set(await current_revisions(engine)) == set(script_heads())


class SchemaBehind(RuntimeError):
    """The database's schema is older than the migration scripts' head (or absent)."""


def _schema_problem(current: tuple[str, ...]) -> str | None:
    heads = script_heads()
    if set(current) == set(heads):
        return None
    want = ", ".join(heads)
    if not current:
        return f"the database has no schema (this code needs revision {want})"
    scripts = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in scripts.walk_revisions()}
    if not set(current) <= known:
        # A revision this code does not know: a newer deploy migrated ahead of us (rolling
        # update). Migrations are additive, so older code may run; not a refusal.
        return None
    return f"the database is at revision {', '.join(current)}, older than this code's {want}"


async def require_current_schema(engine: AsyncEngine, *, timeout: float = 5.0) -> None:
    """Raise SchemaBehind when the database was not migrated to head. A database that does
    not answer within `timeout` is not checked: the processes tolerate PostgreSQL being down
    at start (their /ready says so), and the check runs again at the next start."""
    try:
        current = await asyncio.wait_for(current_revisions(engine), timeout)
    except Exception as exc:  # noqa: BLE001 - unreachable is not "behind"
        log.warning("schema version not checked: %r", exc)
        return
    problem = _schema_problem(current)
    if problem:
        raise SchemaBehind(problem)


async def require_current_schema_or_exit(engine: AsyncEngine | str) -> None:
    """`require_current_schema`, or one line on stderr and exit status 2 (like
    `core.settings.load_or_exit`): a process must not run against an older schema.
    `engine` may be a DATABASE_URL (a process without an engine of its own: the worker)."""
    if isinstance(engine, str):
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        owned = create_async_engine(engine, poolclass=NullPool)
        try:
            await require_current_schema_or_exit(owned)
        finally:
            await owned.dispose()
        return
    try:
        await require_current_schema(engine)
    except SchemaBehind as exc:
        sys.stderr.write(f"schema error: {exc}; run `alembic upgrade head` first\n")
        sys.stderr.flush()
        os._exit(2)
