"""The reconcile job repairs the Redis side of balances from PostgreSQL and the outbox, logs
and counts every repair, finds nothing on a second pass, and never repairs a consistent
state while the drain runs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import text

from live import keys
from tests.workers.conftest import (
    PARTITIONS,
    assert_money_consistent,
    outbox_total,
    produce,
    reward_id,
    wait_until,
)
from workers import jobs, reconcile


async def _users(engine: Any, rows: list[tuple[int, int, int]]) -> None:
    async with engine.begin() as conn:
        for uid, balance, version in rows:
            await conn.execute(
                text(
                    "INSERT INTO users (id, balance, balance_version) OVERRIDING SYSTEM VALUE"
                    " VALUES (:i, :b, :v)"
                ),
                {"i": uid, "b": balance, "v": version},
            )


async def _bal(redis: Any, uid: int, **fields: int) -> None:
    await redis.hset(keys.UserKeys(uid, PARTITIONS).balance, mapping=fields)


async def _get(redis: Any, uid: int) -> tuple[int | None, int | None, int | None]:
    pg, v, pend = await redis.hmget(keys.UserKeys(uid, PARTITIONS).balance, "pg", "v", "pend")
    return tuple(None if x is None else int(x) for x in (pg, v, pend))  # type: ignore[return-value]


async def test_reconcile_repairs_each_kind_of_drift_and_then_finds_nothing(
    app: Any, redis: Any, engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await _users(
        engine, [(1, 100, 5), (2, 100, 5), (3, 100, 5), (4, 100, 5), (5, 100, 5), (6, 100, 5)]
    )
    await _bal(redis, 1, pg=100, v=5, pend=0)  # consistent: untouched
    await _bal(redis, 2, pg=100, v=5, pend=40)  # pend without a grant in the outbox
    await _bal(redis, 3, pg=70, v=3, pend=0)  # cached balance older than PostgreSQL's
    await _bal(redis, 4, pg=90, v=5, pend=0)  # same version, another balance: corrupt
    await _bal(redis, 5, pg=120, v=9, pend=0)  # newer than PostgreSQL: restored database?
    await _bal(redis, 6, pg=80, v=4, pend=0)  # stale, but with grants in the outbox:
    await produce(redis, [(6, 1, 1, 10), (6, 1, 2, 10)])  # pend fixed, pg left to the ack
    await produce(redis, [(7, 1, 1, 10)])  # no PostgreSQL row yet (the drain makes it)
    await _bal(redis, 6, pend=5)  # and its pend is off too

    caplog.set_level(logging.INFO, logger="workers.reconcile")
    result = await jobs.reconcile_balances({"app": app})
    assert result["users"] == 7
    assert result["repairs"] == {"pend": 2, "pg": 3}, result
    assert await _get(redis, 1) == (100, 5, 0)
    assert await _get(redis, 2) == (100, 5, 0)
    assert await _get(redis, 3) == (100, 5, 0)
    assert await _get(redis, 4) == (100, 5, 0)
    assert await _get(redis, 5) == (100, 5, 0)  # forced back, after a second read
    assert await _get(redis, 6) == (80, 4, 20)
    assert await _get(redis, 7) == (None, None, 10)
    repairs = [r.getMessage() for r in caplog.records if "repaired" in r.getMessage()]
    assert len(repairs) == 5 and any("user 5 pg repaired: 120@9 -> 100@5" in m for m in repairs)
    assert any("ahead of PostgreSQL" in r.getMessage() for r in caplog.records)
    text_metrics = app.metrics.reconcile_repairs.collect()[0].samples
    assert {s.labels["field"]: s.value for s in text_metrics if s.name.endswith("_total")} == {
        "pend": 2.0,
        "pg": 3.0,
    }

    again = await reconcile.reconcile(app.redis, app.pool, PARTITIONS)
    assert again.repairs == {} and again.users == 7


async def test_a_partition_with_a_huge_outbox_is_left_for_later(app: Any, redis: Any) -> None:
    await produce(redis, [(16, 1, n, 1) for n in range(1, 31)])  # partition 0
    await _bal(redis, 16, pend=0)
    report = await reconcile.reconcile(app.redis, app.pool, PARTITIONS, max_outbox=20)
    assert report.skipped_partitions == [0] and report.repairs == {}
    assert (await _get(redis, 16))[2] == 0


async def test_reconcile_running_during_the_drain_repairs_nothing(
    app: Any, redis: Any, engine: Any, worker: Any
) -> None:
    grants = [(uid, 4, n, 5) for n in range(1, 31) for uid in range(1, 1001)]
    await produce(redis, grants)
    worker(WORKER_BATCH="500")
    passes = 0
    while await outbox_total(redis) > 0:
        report = await reconcile.reconcile(app.redis, app.pool, PARTITIONS)
        assert report.repairs == {}, report
        passes += 1
        await asyncio.sleep(0.01)
    assert passes >= 2
    await wait_until(lambda: _all_acked(redis), 10, "the last ack")
    await assert_money_consistent(engine, redis, {reward_id(g): (g[0], g[3]) for g in grants})
    assert (await reconcile.reconcile(app.redis, app.pool, PARTITIONS)).repairs == {}


async def _all_acked(redis: Any) -> bool:
    for p in range(PARTITIONS):
        if (await redis.xpending(keys.outbox(p), keys.OUTBOX_GROUP))["pending"]:
            return False
    return True
