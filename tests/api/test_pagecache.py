"""api/pagecache.py: one computation per key and TTL, shared by concurrent misses; failures
and cancelled callers do not poison it. Expiry runs on a clock the test moves (no sleeps);
the computations yield to the loop so that concurrency is real."""

import asyncio

import pytest

from api.pagecache import PageCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    """Let every task that is ready run (background refreshes finish)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_misses_share_one_computation_until_the_ttl() -> None:
    clock = Clock()
    cache = PageCache(ttl_s=0.3, stale_s=0, clock=clock)
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return b"body%d" % calls

    bodies = await asyncio.gather(*(cache.get("k", compute) for _ in range(50)))
    assert set(bodies) == {b"body1"} and calls == 1
    assert await cache.get("other", compute) == b"body2"
    clock.now += 0.29
    assert await cache.get("k", compute) == b"body1"  # still fresh
    clock.now += 0.02
    assert await cache.get("k", compute) == b"body3"
    cache.clear()
    assert await cache.get("k", compute) == b"body4"


async def test_a_failure_is_raised_to_every_waiter_and_not_kept() -> None:
    cache = PageCache(ttl_s=60, clock=Clock())
    attempts = 0

    async def flaky() -> bytes:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        if attempts == 1:
            raise ValueError("database down")
        return b"ok"

    results = await asyncio.gather(
        *(cache.get("k", flaky) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)
    assert await cache.get("k", flaky) == b"ok" and attempts == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    cache = PageCache(ttl_s=60, clock=Clock())
    release = asyncio.Event()

    async def slow() -> bytes:
        await release.wait()
        return b"done"

    first = asyncio.ensure_future(cache.get("k", slow))
    second = asyncio.ensure_future(cache.get("k", slow))
    await settle()
    first.cancel()
    await settle()
    release.set()
    assert await second == b"done"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_entries_are_bounded() -> None:
    cache = PageCache(ttl_s=60, max_entries=10, clock=Clock())

    async def compute() -> bytes:
        return b"x"

    for i in range(35):
        await cache.get(i, compute)
    assert len(cache._entries) <= 10


async def test_an_expired_body_is_served_while_one_refresh_runs() -> None:
    clock = Clock()
    cache = PageCache(ttl_s=0.1, stale_s=0.5, clock=clock)
    calls = 0
    release = asyncio.Event()

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()
        return b"v%d" % calls

    assert await cache.get("k", compute) == b"v1"
    clock.now += 0.15  # expired, still within stale_s
    assert [await cache.get("k", compute) for _ in range(20)] == [b"v1"] * 20
    await settle()
    assert calls == 2  # one refresh, in the background, still waiting
    assert await cache.get("k", compute) == b"v1"
    release.set()
    await settle()
    assert await cache.get("k", compute) == b"v2"


async def test_a_failed_refresh_keeps_the_last_body_until_it_is_too_old() -> None:
    clock = Clock()
    cache = PageCache(ttl_s=0.05, stale_s=0.3, clock=clock)
    fail = False

    async def compute() -> bytes:
        if fail:
            raise ConnectionError("database down")
        return b"good"

    assert await cache.get("k", compute) == b"good"
    fail = True
    clock.now += 0.1
    assert await cache.get("k", compute) == b"good"  # stale, refresh fails in the background
    await settle()
    assert await cache.get("k", compute) == b"good"
    clock.now += 0.3  # past stale_s: the failure reaches the caller
    with pytest.raises(ConnectionError):
        await cache.get("k", compute)
