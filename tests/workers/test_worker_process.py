"""The worker process itself: configuration errors, a clean stop, several workers sharing the
partitions and taking over from each other, and the live state on a Redis Cluster."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import asyncpg
from redis.asyncio import RedisCluster

from live import keys
from tests.workers.conftest import (
    PARTITIONS,
    assert_money_consistent,
    leases_held,
    outbox_total,
    produce,
    reward_id,
    wait_until,
)
from workers import reconcile
from workers.main import asyncpg_dsn


def test_a_bad_setting_stops_the_worker_with_one_line(spawn_cmd: Any) -> None:
    for env, line in (
        ({"REDIS_URL": None}, "configuration error: REDIS_URL is required but not set"),
        ({"WORKER_BATCH": "lots"}, "configuration error: WORKER_BATCH must be an integer"),
        ({"WORKER_CONSUMERS": "0"}, "configuration error: WORKER_CONSUMERS must be between 1"),
    ):
        proc = spawn_cmd(["arq", "workers.main.WorkerSettings"], env)
        assert proc.wait(30) == 2
        err = proc.stderr_text().strip()
        assert err.startswith(line) and len(err.splitlines()) == 1, err


async def test_sigterm_finishes_and_gives_the_leases_back(redis: Any, worker: Any) -> None:
    proc = worker(WORKER_ID="polite")
    await wait_until(lambda: leases_held(redis), 20, "the leases")
    assert await redis.zscore(keys.WORKERS_ALIVE, "polite")
    proc.signal(signal.SIGTERM)
    assert proc.wait(20) == 0, proc.output_tail()
    assert not any([await redis.exists(keys.lease(p)) for p in range(PARTITIONS)])
    assert await redis.zscore(keys.WORKERS_ALIVE, "polite") is None
    assert "worker polite stopped" in proc.stderr_text()


async def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_dies(
    redis: Any, engine: Any, worker: Any
) -> None:
    a = worker(WORKER_ID="a")
    b = worker(WORKER_ID="b")
    await wait_until(lambda: _split(redis), 20, "an even split")
    grants = [(uid, 6, n, 3) for n in range(1, 21) for uid in range(1, 2001)]
    await produce(redis, grants[:20_000])
    a.kill()
    await produce(redis, grants[20_000:])
    # b takes a's partitions once a's leases expire, and a's pending entries once idle.
    await wait_until(lambda: _holder_of_all(redis, b"b"), 20, "b holding every partition")
    await wait_until(lambda: _drained(redis), 30, "the outbox drained")
    await assert_money_consistent(engine, redis, {reward_id(g): (g[0], g[3]) for g in grants})
    assert b.running


async def test_drains_a_redis_cluster_with_the_queue_on_a_plain_redis(
    redis_cluster: Any, redis_server: Any, settings: Any, engine: Any, worker: Any
) -> None:
    redis_cluster.flushall()
    live = RedisCluster.from_url(redis_cluster.url)
    try:
        grants = [(uid, 2, n, 4) for n in range(1, 11) for uid in range(1, 501)]
        await produce_cluster(live, grants)
        proc = worker(
            REDIS_URL=redis_cluster.url, REDIS_CLUSTER="1", ARQ_REDIS_URL=redis_server.url
        )
        await wait_until(lambda: _empty_cluster(live), 30, "the outbox drained")
        await assert_money_consistent(engine, live, {reward_id(g): (g[0], g[3]) for g in grants})
        # Reconcile scans every node of the cluster. (The worker is stopped first: its own
        # reconcile, run at start, would race this one to the repair.)
        assert proc.terminate() == 0
        await live.hset(keys.UserKeys(77, PARTITIONS).balance, "pend", 5)
        pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=2)
        try:
            report = await reconcile.reconcile(live, pool, PARTITIONS)
        finally:
            await pool.close()
        assert report.users == 500 and report.repairs == {"pend": 1}
    finally:
        await live.aclose()


async def produce_cluster(live: Any, grants: list[tuple[int, int, int, int]]) -> None:
    """`produce`, one partition per call (a cluster pipeline routes each to its slot)."""
    by_p: dict[int, list[tuple[int, int, int, int]]] = {}
    for g in grants:
        by_p.setdefault(keys.partition_of(g[0], PARTITIONS), []).append(g)
    await asyncio.gather(*(produce(live, gs) for gs in by_p.values()))


async def _empty_cluster(live: Any) -> bool:
    return await outbox_total(live) == 0 and await _no_pending(live)


async def _split(redis: Any) -> bool:
    holders = [await redis.get(keys.lease(p)) for p in range(PARTITIONS)]
    return holders.count(b"a") == holders.count(b"b") == PARTITIONS // 2


async def _holder_of_all(redis: Any, who: bytes) -> bool:
    return all([await redis.get(keys.lease(p)) == who for p in range(PARTITIONS)])


async def _no_pending(redis: Any) -> bool:
    for p in range(PARTITIONS):
        if (await redis.xpending(keys.outbox(p), keys.OUTBOX_GROUP))["pending"]:
            return False
    return True


async def _drained(redis: Any) -> bool:
    return await outbox_total(redis) == 0 and await _no_pending(redis)
