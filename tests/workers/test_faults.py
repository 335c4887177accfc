"""Fault tests: each one ends with the ledger holding exactly the grants made."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from live import keys
from tests.workers.conftest import (
    PARTITIONS,
    assert_money_consistent,
    ledger_count,
    outbox_total,
    produce,
    reward_id,
    shown_balances,
    wait_until,
)


def _grants(n: int, users: int, seed: int, start_n: int = 0) -> list[tuple[int, int, int, int]]:
    rng = random.Random(seed)
    counter: dict[int, int] = {}
    out = []
    for _ in range(n):
        uid = rng.randint(1, users)
        counter[uid] = counter.get(uid, 0) + 1
        out.append((uid, 3, start_n + counter[uid], 10))
    return out


def _expected(grants: list[tuple[int, int, int, int]]) -> dict[str, tuple[int, int]]:
    return {reward_id(g): (g[0], g[3]) for g in grants}


async def test_worker_killed_between_commit_and_ack_is_replayed_harmlessly(
    redis: Any, engine: Any, worker: Any
) -> None:
    grants = _grants(20_000, 500, seed=1)
    await produce(redis, grants)
    totals: dict[int, int] = {}
    for g in grants:
        totals[g[0]] = totals.get(g[0], 0) + g[3]
    # The hook stops the worker right after its first commit, before the ack: the worst
    # moment to die, with rows in the ledger whose entries Redis still holds as pending.
    first = worker(WORKER_ID="w1", WORKER_PAUSE_AFTER_COMMIT="1", WORKER_BATCH="1000")
    await wait_until(lambda: ledger_count(engine), 20, "the first commit")
    await wait_until(lambda: _in_log(first, "paused after the first commit"), 5, "the pause")
    committed = await ledger_count(engine)
    first.kill()
    assert 0 < committed < len(grants)
    # Nothing was acknowledged: pend still holds every grant, and the shown balance is exact.
    for uid, (pg, _, pend) in (await shown_balances(redis, sorted(totals))).items():
        assert pg is None and pend == totals[uid]
    # Another worker (another id: it must wait for the dead one's leases to expire, then take
    # its pending entries over) replays the committed batch: nothing is written twice.
    worker(WORKER_ID="w2")
    await wait_until(lambda: _drained(redis), 30, "the outbox drained")
    await assert_money_consistent(engine, redis, _expected(grants))


async def test_worker_killed_at_random_moments_loses_and_duplicates_nothing(
    redis: Any, engine: Any, worker: Any
) -> None:
    grants = _grants(60_000, 2000, seed=2)
    await produce(redis, grants)
    rng = random.Random(5)
    for _ in range(3):
        # Same id: a restarted worker takes its leases back and reads its own pending list.
        # Small batches and two loops: slow enough that every kill lands mid-drain.
        proc = worker(WORKER_ID="same", WORKER_BATCH="500", WORKER_CONSUMERS="2")
        await wait_until(lambda: ledger_count(engine), 20, "some progress")
        await asyncio.sleep(rng.uniform(0.1, 0.6))
        proc.kill()
    assert await outbox_total(redis) > 0, "the kills came too late to test anything"
    worker(WORKER_ID="same")
    await wait_until(lambda: _drained(redis), 30, "the outbox drained")
    await assert_money_consistent(engine, redis, _expected(grants))


async def _drained(redis: Any) -> bool:
    if await outbox_total(redis) > 0:
        return False
    for p in range(PARTITIONS):
        if (await redis.xpending(keys.outbox(p), keys.OUTBOX_GROUP))["pending"]:
            return False
    return True


async def _in_log(proc: Any, text: str) -> bool:
    return text in proc.stderr_text() or text in proc.stdout_text()
