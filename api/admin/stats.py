"""Admin chart series: the last hour of the samples the worker records every 10 s
(live/stats.py, workers/stats_sampler.py), as points oldest first. `?minutes=` (1-60) bounds
the window; the page asks for what it has not drawn yet with `?since_ms=`."""

from __future__ import annotations

import time
from typing import Annotated

from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from core.errors import Unavailable
from core.web import decode_query, ok
from core.web.spec import api_route
from live import keys, stats
from live.stats import Point


class SeriesQuery(Struct):
    minutes: Annotated[int, Meta(ge=1, le=60, description="window, 1-60 minutes")] = 60
    since_ms: Annotated[int, Meta(ge=0, le=2**53, description="only points after this")] = 0


class Series(Struct, frozen=True):
    interval_s: int
    points: list[Point]  # oldest first
    server_time_ms: int
    timezone: str  # APP_TIMEZONE: the page shows times in it


async def stats_series(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, SeriesQuery)
    state = request.app.state
    now = int(time.time() * 1000)
    try:
        raw = await state.redis.lrange(keys.STATS_SERIES, 0, stats.KEEP - 1)
    except Exception as exc:  # noqa: BLE001 - the samples are in Redis alone
        raise Unavailable(f"redis: {type(exc).__name__}") from None
    samples = [s for s in map(stats.decode, raw) if s is not None]
    since = max(now - query.minutes * 60_000, query.since_ms + 1)
    return ok(
        request,
        Series(
            interval_s=stats.SAMPLE_EVERY_S,
            points=stats.series(samples, since),
            server_time_ms=now,
            timezone=state.settings.app_timezone,
        ),
    )


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/stats/series",
        stats_series,
        summary="Chart series of the last hour: viewers, heartbeats/s, rewards, outbox, ad spend",
        auth="admin",
        query=SeriesQuery,
        response=Series,
        tags=TAGS,
    ),
]
