"""Record one chart sample (live/stats.py) every 10 s: the console's charts read them.

Two workers may run the same cron tick: the first to claim the slot's key records it, the
other skips. Every figure is read at the instant of the sample; the ledgers' per-minute
figures come from PostgreSQL (rows by their grant or charge time), the rest from Redis.
"""

from __future__ import annotations

import time
from typing import Any

from live import keys, nodes, stats, viewers

_REWARDS_1M = """
SELECT count(*), coalesce(sum(amount), 0) FROM coin_transactions
WHERE kind = 'watch' AND created_at > now() - interval '60 seconds'
"""
_SPEND_1M = """
SELECT coalesce(-sum(amount_micros), 0) FROM wallet_transactions
WHERE kind IN ('impression', 'click') AND created_at > now() - interval '60 seconds'
"""


async def outbox_backlog(redis: Any, partitions: int, now_ms: int) -> tuple[int, int]:
    """(entries waiting in every outbox stream, age in ms of the oldest of them): a stream
    holds exactly its unacknowledged entries (ack.lua), so its first id is the oldest."""
    pipe = redis.pipeline(transaction=False)
    for p in range(partitions):
        pipe.xlen(keys.outbox(p))
        pipe.xrange(keys.outbox(p), count=1)
    replies = await pipe.execute()
    entries = sum(int(n) for n in replies[0::2])
    oldest = [
        int((first[0][0].decode() if isinstance(first[0][0], bytes) else first[0][0]).split("-")[0])
        for first in replies[1::2]
        if first
    ]
    return entries, max(0, now_ms - min(oldest)) if oldest else 0


async def sample(redis: Any, pool: Any, partitions: int, now_ms: int) -> stats.Sample:
    """Read one sample now (no write)."""
    async with pool.acquire() as conn:
        rewards, coins = await conn.fetchrow(_REWARDS_1M)
        spend = await conn.fetchval(_SPEND_1M)
    entries, lag = await outbox_backlog(redis, partitions, now_ms)
    return stats.Sample(
        t_ms=now_ms,
        sessions=await viewers.sessions_live(redis, partitions, now_ms),
        heartbeats=int(await redis.get(keys.STATS_HEARTBEATS) or 0),
        rewards_1m=int(rewards),
        coins_1m=int(coins),
        outbox_entries=entries,
        outbox_lag_ms=lag,
        spend_1m_micros=int(spend),
        nodes=len(await nodes.live_nodes(redis, now_ms)),
    )


async def record(redis: Any, pool: Any, partitions: int, now_ms: int | None = None) -> bool:
    """Record this slot's sample unless another worker did; True when this one did."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    claimed = await redis.set(
        keys.stats_tick(stats.slot(now)), b"1", nx=True, px=stats.SAMPLE_EVERY_S * 2000
    )
    if not claimed:
        return False
    point = await sample(redis, pool, partitions, now)
    pipe = redis.pipeline(transaction=False)
    pipe.lpush(keys.STATS_SERIES, stats.encode(point))
    pipe.ltrim(keys.STATS_SERIES, 0, stats.KEEP - 1)
    await pipe.execute()
    return True
