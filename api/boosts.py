"""Content boosts: an admin's multiplier of a content's reward for a time window.

One boost per content (`content_boosts`, primary key the content): setting one replaces the
one before. Each write also stamps `contents.updated_at`, so the hubs' catalog poll
(realtime/catalog.py) picks the boost up with the content, and tick.lua applies it on
Redis TIME: a boundary crossed inside the window pays floor(amount x multiplier_pct / 100),
once, whichever hub or tab crosses it. Helpers never commit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import BadRequest

PCT_MIN, PCT_MAX = 101, 1000

MultiplierPct = Annotated[
    int,
    Meta(ge=PCT_MIN, le=PCT_MAX, description="the multiplier in percent: 150 pays x1.5"),
]


class BoostSet(Struct, forbid_unknown_fields=True):
    """`starts_at` defaults to now; both times are ISO 8601 with an offset."""

    multiplier_pct: MultiplierPct
    ends_at: datetime
    starts_at: datetime | None = None


class BoostView(Struct, frozen=True):
    content_id: int
    multiplier_pct: int
    starts_at: datetime
    ends_at: datetime
    created_by: int | None
    created_at: datetime


def boosted_amount(amount: int, multiplier_pct: int) -> int:
    """What one grant pays under a boost (tick.lua's rule, live.rules.boosted_amount)."""
    return amount * multiplier_pct // 100


def _view(row: Any) -> BoostView:
    return BoostView(**row._mapping)


_COLUMNS = "content_id, multiplier_pct, starts_at, ends_at, created_by, created_at"
_TOUCH = text("UPDATE contents SET updated_at = clock_timestamp() WHERE id = :id")


async def get_boost(session: AsyncSession, content_id: int) -> BoostView | None:
    row = (
        await session.execute(
            text(f"SELECT {_COLUMNS} FROM content_boosts WHERE content_id = :id"),
            {"id": content_id},
        )
    ).first()
    return None if row is None else _view(row)


def _refuse(name: str, reason: str) -> BadRequest:
    return BadRequest(f"{name}: {reason}", details={"field": name, "reason": reason})


def check_window(body: BoostSet, now: datetime) -> tuple[datetime, datetime]:
    """(starts_at, ends_at) of a boost being set at `now`: both with an offset, the end
    after the start and after now (a boost that is already over would pay nothing)."""
    for name, value in (("ends_at", body.ends_at), ("starts_at", body.starts_at)):
        if value is not None and value.tzinfo is None:
            raise _refuse(name, "needs a UTC offset")
    starts = body.starts_at or now
    if body.ends_at <= starts:
        raise _refuse("ends_at", "must be after starts_at")
    if body.ends_at <= now:
        raise _refuse("ends_at", "must be in the future")
    return starts, body.ends_at


async def set_boost(
    session: AsyncSession, content_id: int, body: BoostSet, actor_id: int | None
) -> BoostView:
    """Write the content's boost (replacing any), and stamp the content for the hubs."""
    starts, ends = check_window(body, datetime.now(UTC))
    row = (
        await session.execute(
            text(
                "INSERT INTO content_boosts (content_id, multiplier_pct, starts_at, ends_at,"
                " created_by) VALUES (:id, :pct, :starts, :ends, :by)"
                " ON CONFLICT (content_id) DO UPDATE SET multiplier_pct = EXCLUDED.multiplier_pct,"
                " starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,"
                f" created_by = EXCLUDED.created_by, created_at = now() RETURNING {_COLUMNS}"
            ),
            {
                "id": content_id,
                "pct": body.multiplier_pct,
                "starts": starts,
                "ends": ends,
                "by": actor_id,
            },
        )
    ).one()
    await session.execute(_TOUCH, {"id": content_id})
    return _view(row)


async def clear_boost(session: AsyncSession, content_id: int) -> BoostView | None:
    """End the content's boost now (the row is deleted); the one removed, if any."""
    row = (
        await session.execute(
            text(f"DELETE FROM content_boosts WHERE content_id = :id RETURNING {_COLUMNS}"),
            {"id": content_id},
        )
    ).first()
    if row is not None:
        await session.execute(_TOUCH, {"id": content_id})
    return None if row is None else _view(row)
