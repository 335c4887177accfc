"""Mission progress events written by the api: a box opened counts toward "open N boxes".

One `mission_activity` row per event id (the box's reward id `b:<user>:<box_no>`), written
in the open's own transaction; the worker writes the watch events the same way
(workers/activity.py). The id is the row's key, so an event never counts twice.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_BOX = text(
    "INSERT INTO mission_activity (event_id, user_id, kind, content_id, amount, at)"
    " VALUES (:e, :u, 'box', NULL, 1, now()) ON CONFLICT (event_id) DO NOTHING"
)


async def record_box(session: AsyncSession, user_id: int, event_id: str) -> None:
    """Count one box opened by `user_id` (no commit)."""
    await session.execute(_BOX, {"e": event_id, "u": user_id})
