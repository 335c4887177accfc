"""Quota accounting against the stand-in, which counts the requests it receives: a 403
quotaExceeded stops every call until the Pacific quota day resets, shows in /ready and the
metrics without failing anything else, and the daily budget is never overspent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from core.youtube.client import QuotaExhausted, YouTubeClient
from core.youtube.metrics import YouTubeMetrics
from core.youtube.quota import reset_at
from live.youtube_quota import RedisQuota
from tests.youtube.conftest import KEY, VIDEO

IMPORTS = "/api/admin/youtube/imports"


def client(http: httpx.AsyncClient, redis: Any, base: str, **kw: Any) -> YouTubeClient:
    kw.setdefault("daily_budget", 10_000)
    return YouTubeClient(
        http,
        api_key=KEY,
        base_url=base,
        ledger=RedisQuota(redis),
        metrics=YouTubeMetrics(CollectorRegistry()),
        backoff_s=0.01,
        **kw,
    )


async def test_quota_exceeded_stops_calls_until_the_reset(api, admin, youtube_api, redis) -> None:
    """After a quotaExceeded no request reaches YouTube until Pacific midnight; /ready says
    so and stays ready, the catalog still answers; after the reset calls go out again."""
    await youtube_api.mode(quota_exceeded=True)
    job = (await api.post(IMPORTS, json={"source": VIDEO}, headers=admin)).json()["data"]
    assert job["status"] == "failed" and job["error"].startswith("quota_exhausted")
    assert await youtube_api.calls() == {"videos": 1}
    await youtube_api.mode(quota_exceeded=False)  # YouTube would answer now: we must not ask
    job = (await api.post(IMPORTS, json={"source": VIDEO}, headers=admin)).json()["data"]
    assert job["status"] == "failed" and job["error"].startswith("quota_exhausted")
    assert await youtube_api.calls() == {"videos": 1}

    r = await api.get("/ready")
    assert r.status_code == 200
    details = r.json()["details"]["youtube"]
    assert (details["stopped"], details["units_used"]) == (True, 1)
    assert "youtube_quota_exhausted 1.0" in (await api.get("/metrics")).text
    assert (await api.get("/api/contents")).status_code == 200

    now = datetime.now(UTC)
    async with httpx.AsyncClient() as http:
        with pytest.raises(QuotaExhausted):
            await client(http, redis, youtube_api.base, clock=lambda: now).videos([VIDEO])
        assert await youtube_api.calls() == {"videos": 1}
        after = reset_at(now) + timedelta(seconds=1)
        items = await client(http, redis, youtube_api.base, clock=lambda: after).videos([VIDEO])
    assert list(items) == [VIDEO]
    assert await youtube_api.calls() == {"videos": 2}


async def test_the_daily_budget_is_never_overspent_by_concurrent_calls(youtube_api, redis) -> None:
    """Ten concurrent calls on a budget of three units: exactly three reach YouTube."""
    async with httpx.AsyncClient() as http:
        yt = client(http, redis, youtube_api.base, daily_budget=3)
        results = await asyncio.gather(
            *(yt.videos([VIDEO]) for _ in range(10)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, QuotaExhausted)]
    assert (len(refused), refused[0].why) == (7, "budget")
    assert await youtube_api.calls() == {"videos": 3}
