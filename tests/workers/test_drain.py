"""The outbox drained by a real worker process into PostgreSQL."""

from __future__ import annotations

import random
import time
from typing import Any

from tests.workers.conftest import (
    assert_money_consistent,
    ledger_count,
    outbox_total,
    produce,
    reward_id,
    shown_balances,
    wait_until,
)


async def test_100k_grants_drain_exactly_once_and_the_shown_balance_never_moves(
    redis: Any, engine: Any, worker: Any
) -> None:
    rng = random.Random(3)
    users = list(range(1, 5001))
    n_of: dict[int, int] = {}
    grants = []
    for _ in range(100_000):
        uid = rng.choice(users)
        n_of[uid] = n_of.get(uid, 0) + 1
        grants.append((uid, 1 + uid % 7, n_of[uid], rng.choice((5, 10, 25))))
    await produce(redis, grants)
    expected_total: dict[int, int] = {}
    for g in grants:
        expected_total[g[0]] = expected_total.get(g[0], 0) + g[3]
    granted = sorted(expected_total)

    proc = worker()
    started = time.monotonic()
    samples = 0
    # The balance a hub shows is pg (cached PostgreSQL balance; 0 before the first ack) + pend.
    while await outbox_total(redis) > 0:
        for uid, (pg, _, pend) in (await shown_balances(redis, granted)).items():
            assert (pg or 0) + pend == expected_total[uid], (uid, pg, pend)
        samples += 1  # how fast it drains is the benchmark's to measure
        assert proc.running, proc.output_tail()
    await wait_until(lambda: _count_is(engine, 100_000), 10, "all ledger rows")
    elapsed = time.monotonic() - started
    print(f"\n100k grants drained in {elapsed:.1f}s incl. worker start; {samples} samples")
    await wait_until(lambda: _pending_clear(redis), 5, "pend back to 0")
    await assert_money_consistent(engine, redis, {reward_id(g): (g[0], g[3]) for g in grants})
    assert samples >= 3


async def _count_is(engine: Any, n: int) -> bool:
    return await ledger_count(engine) == n


async def _pending_clear(redis: Any) -> bool:
    return await outbox_total(redis) == 0
