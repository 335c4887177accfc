"""The console charts' samples: the pure series math, and the worker's sampler against real
Redis and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from live import keys, stats
from tests.workers.conftest import PARTITIONS, produce
from workers import jobs, stats_sampler


def _sample(t_ms: int, heartbeats: int, **kw: int) -> stats.Sample:
    base = {"sessions": 0, "rewards_1m": 0, "coins_1m": 0, "outbox_entries": 0, "nodes": 1}
    base |= {"outbox_lag_ms": 0, "spend_1m_micros": 0}
    return stats.Sample(t_ms=t_ms, heartbeats=heartbeats, **{**base, **kw})


def test_series_rates_heartbeats_between_samples_and_skips_a_reset_counter() -> None:
    """Heartbeats/s is the counter's growth over the time between samples; the first point
    in the window still gets a rate from the sample before it; a counter that went down
    (Redis lost it) gives no rate rather than a negative one."""
    samples = [
        _sample(40_000, 900),  # newest first, as stored
        _sample(30_000, 100),  # reset
        _sample(20_000, 400, sessions=3),
        _sample(10_000, 300),
    ]
    points = stats.series(samples, since_ms=15_000)
    assert [p.t_ms for p in points] == [20_000, 30_000, 40_000]
    assert [p.heartbeats_per_s for p in points] == [10.0, None, 80.0]
    assert points[0].viewers == 3
    assert stats.decode(b"not json") is None


async def test_sampler_records_each_figure_once_per_slot(app: Any, redis: Any, engine: Any) -> None:
    """One sample holds live sessions, the hubs' heartbeat counter, the last minute's rewards
    and ad spend from the ledgers (older rows left out), and the outbox backlog with the age
    of its oldest entry; a second worker in the same 10 s slot records nothing."""
    now = int(time.time() * 1000)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO users (id) OVERRIDING SYSTEM VALUE VALUES (5), (40)"))
        await conn.execute(
            text(
                "INSERT INTO coin_transactions (user_id, kind, amount, reward_id, created_at)"
                " VALUES (5, 'watch', 10, 'w:5:1:1', now()), (5, 'watch', 15, 'w:5:1:2', now()),"
                " (5, 'watch', 99, 'w:5:1:0', now() - interval '5 minutes')"
            )
        )
        await conn.execute(
            text("INSERT INTO advertiser_wallets (advertiser_id, balance_micros) VALUES (40, 0)")
        )
        await conn.execute(
            text(
                "INSERT INTO wallet_transactions (advertiser_id, kind, amount_micros,"
                " balance_after_micros, ref, created_at) VALUES"
                " (40, 'charge', 5000000, 5000000, 'c1', now()),"
                " (40, 'impression', -300000, 4700000, 'i1', now()),"
                " (40, 'click', -200000, 4500000, 'k1', now()),"
                " (40, 'impression', -999, 4499001, 'i0', now() - interval '3 minutes')"
            )
        )
    await produce(redis, [(5, 1, 3, 10), (6, 1, 1, 10), (7, 2, 1, 10)])
    await redis.zadd(keys.deadlines(1), {"9": now + 60_000, "10": now - 1})
    await redis.set(keys.STATS_HEARTBEATS, 1234)

    assert await stats_sampler.record(app.redis, app.pool, PARTITIONS, now) is True
    assert await stats_sampler.record(app.redis, app.pool, PARTITIONS, now + 1) is False
    raw = await redis.lrange(keys.STATS_SERIES, 0, -1)
    assert len(raw) == 1
    s = stats.decode(raw[0])
    assert s is not None
    assert (s.sessions, s.heartbeats, s.rewards_1m, s.coins_1m) == (1, 1234, 2, 25)
    assert (s.outbox_entries, s.spend_1m_micros) == (3, 500000)
    assert 0 <= s.outbox_lag_ms < 60_000


async def test_the_cron_job_keeps_one_hour(app: Any, redis: Any) -> None:
    """The job records into the list, which is trimmed to one hour of samples."""
    for i in range(stats.KEEP + 5):
        await redis.lpush(keys.STATS_SERIES, stats.encode(_sample(i, i)))
    assert await jobs.sample_stats({"app": app}) is True
    assert await redis.llen(keys.STATS_SERIES) == stats.KEEP
