"""Admin live view: watch sessions live now, and the contents with the most current viewers.

Read from the hub's Redis state, by Redis `TIME` (the scripts' clock): a session is live
while its deadline is ahead, so `sessions_live` counts the members of every partition's
deadline set scored >= now (a session past its deadline and not swept yet is not counted),
and a content's viewers are the members of its viewer set scored >= now (the same count
the catalog shows). A snapshot, not a list: `?limit=` (1-100) bounds the ranking.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from core.errors import Unavailable
from core.web import decode_query, ok
from core.web.spec import api_route
from live import viewers


class LiveQuery(Struct):
    limit: Annotated[int, Meta(ge=1, le=100, description="contents to rank, 1-100")] = 20


class LiveContent(Struct, frozen=True):
    content_id: int
    title: str
    viewers: int


class LiveView(Struct, frozen=True):
    sessions_live: int
    viewers_total: int  # over published contents
    contents: list[LiveContent]  # by current viewers, most first; contents with none left out
    server_time: datetime


async def live_viewers(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, LiveQuery)
    state = request.app.state
    async with state.sessions() as session:
        contents = (
            await session.execute(
                text(
                    "SELECT id, title FROM contents WHERE status = 'published' AND deleted_at IS NULL"
                    " AND (expires_at IS NULL OR expires_at > now())"
                )
            )
        ).all()
    redis = state.redis
    try:
        clock = await redis.time()
        if isinstance(clock, dict):  # a cluster client answers per node
            clock = next(iter(clock.values()))
        seconds, micros = clock
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        sessions_live = await viewers.sessions_live(redis, state.settings.redis_partitions, now_ms)
        counts = await viewers.counts(redis, [int(c[0]) for c in contents], now_ms)
    except Exception as exc:  # noqa: BLE001 - the live state is in Redis alone: no fallback
        raise Unavailable(f"redis: {type(exc).__name__}") from None
    ranked = sorted(
        (LiveContent(int(c[0]), c[1], n) for c, n in zip(contents, counts, strict=True) if n > 0),
        key=lambda c: (-c.viewers, c.content_id),
    )
    return ok(
        request,
        LiveView(
            sessions_live=sessions_live,
            viewers_total=sum(counts),
            contents=ranked[: query.limit],
            server_time=datetime.fromtimestamp(now_ms / 1000, state.settings.tz),
        ),
    )


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/live",
        live_viewers,
        summary="Live sessions and the contents with the most current viewers",
        auth="admin",
        query=LiveQuery,
        response=LiveView,
        tags=TAGS,
    ),
]
