"""Per-caller request limits of the REST api (PROTOCOL 6): per user, else per IP, in fixed
windows (one minute unless a bucket says otherwise) counted in Redis so that every api
process shares them. The limits are runtime settings (`rate_limit_per_minute`,
`admin_rate_limit_per_minute`) or, for the auth routes, environment settings."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from core.errors import RateLimited
from live import keys

log = logging.getLogger(__name__)

WINDOW_S = 60
REDIS_TIMEOUT_S = 1.0


async def hit(
    redis: Any,
    bucket: str,
    who: str,
    limit: int,
    *,
    window_s: int = WINDOW_S,
    now: float | None = None,
) -> None:
    """Count one request of `who` in `bucket`; raise RateLimited (with the seconds left in
    the window) past `limit` per `window_s`. A Redis failure lets the request through:
    limits protect the service, they must not take it down."""
    now = time.time() if now is None else now
    window = int(now // window_s)
    key = keys.api_rate(bucket, who, window)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window_s + 5)
        count, _ = await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a Redis failure must not fail the request
        log.warning("rate limit not checked (%s: %s)", type(exc).__name__, exc)
        return
    if count > limit:
        retry_after = max(1, int((window + 1) * window_s - now + 0.999))
        per = {60: "minute", 3600: "hour"}.get(window_s, f"{window_s} s")
        raise RateLimited(
            f"more than {limit} requests per {per}",
            retry_after=retry_after,
            details={"limit": limit, "window_s": window_s},
        )
