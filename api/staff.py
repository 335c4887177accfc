"""Staff accounts (admins and advertisers) and the rule that keeps the console reachable:
the last active admin (role `admin`, not blocked) can be neither disabled nor demoted.

The rule is checked under a transaction-level advisory lock that every change of an
admin's standing takes first, so two concurrent demotions of the last two admins run one
after the other and the second sees that only one is left (docs/security.md). Helpers
here never commit: the caller's transaction holds the change, its audit entry and the lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict

# pg_advisory_xact_lock key of "the set of active admins" ('admn' in ASCII).
ADMINS_LOCK = 0x61646D6E
STAFF_ROLES = ("admin", "advertiser")


async def lock_admins(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADMINS_LOCK})


async def keep_an_admin(
    session: AsyncSession, user_id: int, *, after: Iterable[str], blocked: bool
) -> None:
    """Refuse (409) when `user_id` is an active admin and the change (its roles `after`,
    blocked or not) would leave no active admin. Takes the admins lock."""
    await lock_admins(session)
    row = (
        await session.execute(
            text("SELECT 'admin' = ANY(roles) AND blocked_at IS NULL FROM users WHERE id = :id"),
            {"id": user_id},
        )
    ).first()
    if row is None or not row[0]:
        return  # not an active admin now: the change cannot lose one
    if "admin" in after and not blocked:
        return
    others = (
        await session.execute(
            text(
                "SELECT count(*) FROM users"
                " WHERE 'admin' = ANY(roles) AND blocked_at IS NULL AND id <> :id"
            ),
            {"id": user_id},
        )
    ).scalar_one()
    if others == 0:
        raise Conflict(
            "this is the last active admin: make another admin first",
            details={"user_id": user_id},
        )
