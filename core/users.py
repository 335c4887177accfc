"""User rows that every process needs: provisioning from a token, the PostgreSQL balance."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PROVISION = text(
    "INSERT INTO users (id, roles) OVERRIDING SYSTEM VALUE VALUES (:id, :roles) "
    "ON CONFLICT (id) DO NOTHING"
)
_PROVISION_MANY = text(
    "INSERT INTO users (id) OVERRIDING SYSTEM VALUE"
    " SELECT u FROM unnest(CAST(:ids AS bigint[])) AS u ORDER BY u"
    " ON CONFLICT (id) DO NOTHING"
)
_BALANCE = text("SELECT balance, balance_version FROM users WHERE id = :id")


async def provision_user(
    conn: AsyncConnection, user_id: int, roles: list[str] | None = None
) -> None:
    """Create the row of a user known so far only from a valid token (no commit)."""
    await conn.execute(_PROVISION, {"id": user_id, "roles": roles or ["viewer"]})


async def provision_viewers(conn: AsyncConnection, user_ids: list[int]) -> None:
    """`provision_user` for many viewers in one statement (no commit). Rows are inserted in
    id order, so two processes provisioning overlapping sets cannot deadlock."""
    await conn.execute(_PROVISION_MANY, {"ids": user_ids})


async def load_balance(conn: AsyncConnection, user_id: int) -> tuple[int, int]:
    """(balance, balance_version) in PostgreSQL; (0, 0) for a user without a row."""
    row = (await conn.execute(_BALANCE, {"id": user_id})).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)
