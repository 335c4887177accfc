"""What a drained batch adds to the user event log and to mission progress, written inside
the drain's own transaction (so a batch's ledger rows, sessions, events and progress commit
together or not at all).

Both writes are idempotent by the event's own id, because the drain replays batches (a crash
between commit and ack): user events are keyed `s:<session_id>` (start), `e:<session_id>`
(end) and the reward id (a grant); mission progress (`mission_activity`) is keyed
`s:<session_id>` and holds the session's credited watch time once it has ended. A replayed
entry inserts nothing (ON CONFLICT DO NOTHING), so progress never counts it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import user_events
from workers.entries import Batch

_ACTIVITY = """
INSERT INTO mission_activity (event_id, user_id, kind, content_id, amount, at)
SELECT 's:' || a.s, a.u, 'watch', a.c, a.ms, to_timestamp(a.ts / 1000.0)
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
     AS a(s, u, c, ms, ts)
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(slots=True)
class Rows:
    """Column arrays for `unnest`: the batch's user events and watch activity."""

    events: tuple[list[Any], ...] = field(default_factory=lambda: ([], [], [], [], []))
    activity: tuple[list[Any], ...] = field(default_factory=lambda: ([], [], [], [], []))

    def event(self, user_id: int, type_: str, key: str, data: dict[str, Any], ts: int) -> None:
        for column, value in zip(
            self.events, (user_id, type_, key, user_events.encode(data), ts), strict=True
        ):
            column.append(value)


def rows(batch: Batch) -> Rows:
    """The rows `batch` adds (pure)."""
    out = Rows()
    for s in batch.sessions.values():
        where = {"session_id": s.session_id, "content_id": s.content_id}
        if s.started_ms is not None:
            data = {**where, "device_id": s.device_id, "tab_id": s.tab_id}
            out.event(s.user_id, user_events.SESSION_START, f"s:{s.session_id}", data, s.started_ms)
        if s.ended_ms is not None:
            data = {**where, "credited_ms": s.credited_ms, "reason": s.reason}
            out.event(s.user_id, user_events.SESSION_END, f"e:{s.session_id}", data, s.ended_ms)
            if s.credited_ms:
                for column, value in zip(
                    out.activity,
                    (s.session_id, s.user_id, s.content_id, s.credited_ms, s.ended_ms),
                    strict=True,
                ):
                    column.append(value)
    for g in (*batch.grants, *batch.held):
        data = {"reward_id": g.reward_id, "content_id": g.content_id, "amount": g.amount}
        if g.held:
            data["held"] = True
        out.event(g.user_id, user_events.REWARD, g.reward_id, data, g.ts_ms)
    return out


async def write(conn: Any, batch: Batch) -> None:
    """Write the batch's events and progress on asyncpg `conn`, in the caller's transaction."""
    out = rows(batch)
    if out.events[0]:
        await conn.execute(user_events.WORKER_INSERT, *out.events)
    if out.activity[0]:
        await conn.execute(_ACTIVITY, *out.activity)
