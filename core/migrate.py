"""Schema migrations through Alembic, for scripts and for processes at start-up.

- `upgrade(database_url)`: sync, for scripts and threads (Alembic's env runs its own event
  loop, so never call it from inside a running loop: use `upgrade_async` there).
- `upgrade_async(engine)`: the cookbook's connection-sharing recipe, inside a running loop.
- `schema_is_current(engine)`: whether the database is at the scripts' head, so a process can
  refuse to start against a database that was not migrated.

The migration scripts live in `migrations/` beside this package (the project is installed in
editable mode); `alembic.ini` at the project root configures them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


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
