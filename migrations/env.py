"""Alembic environment (async template + the cookbook's connection-sharing recipe).

The database comes from, in order: a connection passed in `config.attributes["connection"]`
(a sync Connection from `AsyncConnection.run_sync`, see core.migrate.upgrade_async), the
`sqlalchemy.url` main option (set by core.migrate.upgrade), or the DATABASE_URL environment
variable (the `alembic upgrade head` command line).

Every run takes a transaction-scoped advisory lock first, so two migrators started at the same
time (two processes deploying at once) serialise: the second one waits, then sees the version
the first one committed and has nothing left to do.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from core.models import Base

# Fixed key of the migration lock ("watchmig" as a 64-bit integer); never change it, or old
# and new migrators would no longer exclude each other.
MIGRATION_LOCK_KEY = 0x77617463686D6967

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    # disable_existing_loggers=False: when run inside a process, keep its loggers alive.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise SystemExit("DATABASE_URL is required (postgresql+asyncpg://...) to run migrations")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection)
    # When the caller's connection is already in a transaction, begin_transaction() joins it
    # and the caller commits; otherwise it opens one and commits it. Either way the lock below
    # is held until that commit, and the current version is read after taking it.
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(_database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
