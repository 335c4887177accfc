"""Per-caller request limits (api.limits) with a real Redis."""

from __future__ import annotations

import pytest

from api import limits
from core.errors import RateLimited
from devkit.servers import free_port

MINUTE_START = 29_000_000 * 60  # some minute boundary, in unix seconds


async def test_limit_counts_per_caller_and_window(redis):
    """`limit` requests pass, the next is refused with the seconds left in the minute;
    another caller and the next minute start from zero."""
    for _ in range(3):
        await limits.hit(redis, "api", "u1", 3, now=MINUTE_START + 15)
    with pytest.raises(RateLimited) as info:
        await limits.hit(redis, "api", "u1", 3, now=MINUTE_START + 15.2)
    assert info.value.retry_after == 45
    await limits.hit(redis, "api", "u2", 3, now=MINUTE_START + 15)
    await limits.hit(redis, "admin", "u1", 3, now=MINUTE_START + 15)
    await limits.hit(redis, "api", "u1", 3, now=MINUTE_START + 60)


async def test_redis_down_lets_requests_through(caplog):
    """When Redis cannot be reached, the request is not refused (and a warning is logged)."""
    from redis.asyncio import Redis

    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        await limits.hit(dead, "api", "u1", 0)
    finally:
        await dead.aclose()
    assert any("rate limit not checked" in r.message for r in caplog.records)


async def test_admin_limit_from_runtime_settings(client, admin, auth):
    """Admin routes answer 429 rate_limited with Retry-After past
    admin_rate_limit_per_minute, per user."""
    r = await client.put(
        "/api/admin/settings", headers=admin, json={"admin_rate_limit_per_minute": 3}
    )
    assert r.status_code == 200
    # A minute boundary may pass between requests and reset the count, so allow for one.
    statuses = [(await client.get("/api/admin/settings", headers=admin)) for _ in range(8)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    refused = [r for r in statuses if r.status_code == 429]
    assert refused, [r.status_code for r in statuses]
    assert refused[0].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused[0].headers["retry-after"]) <= 60
    other = await client.get("/api/admin/settings", headers=auth(2, ("admin",)))
    assert other.status_code == 200
