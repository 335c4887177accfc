"""The hub's view of the catalog: what may be watched, and each content's reward interval.

Kept in memory and refreshed from PostgreSQL by polling `contents.updated_at` (every
CONTROL_POLL_MS), so heartbeats never wait on PostgreSQL and watching goes on while it is
down. A content the cache does not know is looked up at `start`, so a new one is watchable at
once on every node; an unknown id is remembered as missing for a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

# A content's boost (content_boosts) comes with it: writing a boost touches the content's
# updated_at, so the same poll that sees a content change sees its boost change.
_SELECT = (
    "SELECT c.id, c.status, c.deleted_at, c.published_at, c.expires_at, c.reward_interval_ms,"
    " c.updated_at, b.multiplier_pct, b.starts_at, b.ends_at"
    " FROM contents c LEFT JOIN content_boosts b ON b.content_id = c.id"
)
_ONE = text(f"{_SELECT} WHERE c.id = :id")
_CHANGED = text(f"{_SELECT} WHERE c.updated_at >= :since ORDER BY c.updated_at")
# Transactions commit out of updated_at order; re-reading a window behind the newest seen
# change catches a row whose commit landed after a later one was read.
_OVERLAP = timedelta(seconds=30)
_MISSING_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class ContentInfo:
    id: int
    published: bool
    deleted: bool
    published_at_ms: int | None
    expires_at_ms: int | None
    reward_interval_ms: int | None
    # (percent, from ms, until ms): the admin's boost, applied by tick.lua on its own clock.
    boost: tuple[int, int, int] | None = None

    def watchable(self, now_ms: int) -> bool:
        if not self.published or self.deleted:
            return False
        if self.published_at_ms is not None and self.published_at_ms > now_ms:
            return False
        return self.expires_at_ms is None or self.expires_at_ms > now_ms


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _info(row: Row[*tuple[Any, ...]]) -> ContentInfo:
    r = row  # (id, status, deleted_at, published_at, expires_at, reward_interval_ms, updated_at,
    #         boost percent, boost from, boost until)
    boost = None
    if r[7] is not None:
        boost = (int(r[7]), int(r[8].timestamp() * 1000), int(r[9].timestamp() * 1000))
    return ContentInfo(
        id=int(r[0]),
        published=r[1] == "published",
        deleted=r[2] is not None,
        published_at_ms=_ms(r[3]),
        expires_at_ms=_ms(r[4]),
        reward_interval_ms=r[5],
        boost=boost,
    )


class Catalog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._items: dict[int, ContentInfo] = {}
        self._missing: dict[int, float] = {}
        self._since: datetime | None = None

    def cached(self, content_id: int) -> ContentInfo | None:
        return self._items.get(content_id)

    def newest_watchable(self, now_ms: int, limit: int) -> list[int]:
        """Ids of the cached watchable contents, newest published first, at most `limit`."""
        items = [i for i in self._items.values() if i.watchable(now_ms)]
        items.sort(key=lambda i: (i.published_at_ms or 0, i.id), reverse=True)
        return [i.id for i in items[:limit]]

    async def get(self, content_id: int) -> ContentInfo | None:
        """The content, from the cache or else from PostgreSQL; None if there is no such id."""
        info = self._items.get(content_id)
        if info is not None:
            return info
        seen_missing = self._missing.get(content_id)
        if seen_missing is not None and time.monotonic() - seen_missing < _MISSING_TTL_S:
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(_ONE, {"id": content_id})).first()
        if row is None:
            if len(self._missing) > 100_000:
                self._missing.clear()
            self._missing[content_id] = time.monotonic()
            return None
        info = _info(row)
        self._items[content_id] = info
        return info

    async def refresh(self) -> int:
        """Apply the changes since the last refresh (all rows the first time); returns how many."""
        since = (
            datetime.fromtimestamp(0).astimezone()
            if self._since is None
            else self._since - _OVERLAP
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_CHANGED, {"since": since})).all()
        for row in rows:
            self._items[int(row[0])] = _info(row)
            self._missing.pop(int(row[0]), None)
            if self._since is None or row[6] > self._since:
                self._since = row[6]
        return len(rows)
