"""The YouTube quota ledger in Redis (core.youtube.client.QuotaLedger), shared by every api
and worker process: units spent per Pacific quota day, and the stop set by a 403
quotaExceeded. Both keys expire after their day, so a new day starts at zero and open.

`spend` adds first and takes back what went over the budget: two processes racing for the
last units may both be refused, never both let through past the budget."""

from __future__ import annotations

from typing import Any

import httpx

from core.settings import Settings
from core.youtube.client import YouTubeClient
from core.youtube.metrics import YouTubeMetrics
from live import keys


class RedisQuota:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def stopped(self, day: str) -> bool:
        return bool(await self.redis.exists(keys.youtube_stop(day)))

    async def spend(self, day: str, units: int, budget: int, ttl_s: int) -> bool:
        key = keys.youtube_units(day)
        pipe = self.redis.pipeline(transaction=True)
        pipe.incrby(key, units)
        pipe.expire(key, ttl_s)
        total, _ = await pipe.execute()
        if int(total) <= budget:
            return True
        await self.redis.decrby(key, units)
        return False

    async def stop(self, day: str, ttl_s: int) -> None:
        await self.redis.set(keys.youtube_stop(day), "1", ex=ttl_s)

    async def used(self, day: str) -> int:
        return int(await self.redis.get(keys.youtube_units(day)) or 0)


def make_client(settings: Settings, redis: Any, metrics: YouTubeMetrics) -> YouTubeClient:
    """The process's YouTube client on this Redis quota ledger (close `client.http`)."""
    http = httpx.AsyncClient(timeout=settings.youtube_timeout_ms / 1000)
    return YouTubeClient(
        http,
        api_key=settings.youtube_api_key,
        base_url=settings.youtube_api_url,
        ledger=RedisQuota(redis),
        metrics=metrics,
        daily_budget=settings.youtube_daily_quota,
    )
