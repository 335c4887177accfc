"""The user event log: one append-only table (`user_events`) of what users did, for support
and abuse investigations (docs/api.md, "User event log").

Writers add a row inside the transaction of the action itself, so the log never shows an
action that was rolled back nor misses one that committed: the api through `record` (a
SQLAlchemy session, never committed here), the worker through `WORKER_INSERT` inside the
drain's transaction. Events with an id of their own (a watch session, a reward) carry it as
`event_key`, which is unique: a replayed outbox entry or a retried request writes nothing.
Rows are never changed; the retention job (`prune`) deletes those older than
`USER_EVENTS_RETENTION_DAYS`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SESSION_START = "session_start"
SESSION_END = "session_end"
REWARD = "reward"
BOX_OPEN = "box_open"
GOLD_BOX_OPEN = "gold_box_open"
MISSION_JOIN = "mission_join"
MISSION_COMPLETE = "mission_complete"
MISSION_CLAIM = "mission_claim"
AD_IMPRESSION = "ad_impression"
AD_CLICK = "ad_click"
LOGIN = "login"
BLOCK = "block"
TYPES = (
    SESSION_START,
    SESSION_END,
    REWARD,
    BOX_OPEN,
    GOLD_BOX_OPEN,
    MISSION_JOIN,
    MISSION_COMPLETE,
    MISSION_CLAIM,
    AD_IMPRESSION,
    AD_CLICK,
    LOGIN,
    BLOCK,
)

_INSERT = text(
    "INSERT INTO user_events (user_id, type, event_key, data)"
    " VALUES (:u, :t, :k, CAST(:d AS jsonb)) ON CONFLICT (event_key) DO NOTHING"
)

# The worker's rows of one batch (asyncpg, column arrays): at = the entry's server time.
WORKER_INSERT = """
INSERT INTO user_events (user_id, type, event_key, data, at)
SELECT e.u, e.t, e.k, CAST(e.d AS jsonb), to_timestamp(e.ts / 1000.0)
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])
     AS e(u, t, k, d, ts)
ON CONFLICT (event_key) DO NOTHING
"""

PRUNE = "DELETE FROM user_events WHERE at < now() - make_interval(days => $1)"


def encode(data: dict[str, Any]) -> str:
    return msgspec.json.encode(data).decode()


async def record(
    session: AsyncSession,
    user_id: int,
    type_: str,
    data: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> None:
    """Append one event in the caller's transaction (no commit). `key`: the event's own
    unique id, when it has one (a second write with it is ignored)."""
    if type_ not in TYPES:
        raise ValueError(f"unknown user event type {type_!r}")
    await session.execute(_INSERT, {"u": user_id, "t": type_, "k": key, "d": encode(data or {})})


async def record_ad(
    session: AsyncSession, user_id: int, what: str, ad_id: int, result: Any
) -> None:
    """An ad `impression` (logged once it counts) or `click` (once per impression), from the
    api's event result (`impression_id`, `counted`, `cost_micros`); repeats write nothing."""
    if not result.counted:  # a refused report is invalid traffic, not something the user did
        return
    data = {
        "ad_id": ad_id,
        "impression_id": result.impression_id,
        "counted": result.counted,
        "cost_micros": result.cost_micros,
    }
    type_ = AD_IMPRESSION if what == "impression" else AD_CLICK
    await record(session, user_id, type_, data, key=f"ad_{what}:{ad_id}:{result.impression_id}")
