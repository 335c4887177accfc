"""PostgreSQL down for 30 s while players keep watching: grants pile up in the outbox,
nothing is lost, all of it lands once PostgreSQL is back, and the balance the hub shows with
every reward stays exact throughout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text

from tests.support.conservation import (
    assert_rewards_paid,
    assert_sessions_persisted,
    assert_time_conserved,
)
from tests.workers.conftest import (
    PARTITIONS,
    assert_money_consistent,
    outbox_total,
    produce,
    reward_id,
    wait_until,
)
from tests.workers.players import HUB_ENV, Player, add_content, watch

OUTAGE_S = 30.0


async def test_postgres_down_30s_while_players_watch_loses_nothing(
    redis: Any, engine: Any, pg_server: Any, spawn: Any, worker: Any, token: Any
) -> None:
    cid = await add_content(engine)
    worker_proc = worker()
    hub = spawn("realtime.app:app", {**HUB_ENV, "REDIS_PARTITIONS": str(PARTITIONS)})
    stop = asyncio.Event()
    players = [Player(uid) for uid in range(1, 11)]
    tasks = [
        asyncio.create_task(watch(hub.ws_url, token(p.user_id), p, cid, stop)) for p in players
    ]
    # Grants written straight to the outbox too, for volume (users 1001-1500).
    direct: list[tuple[int, int, int, int]] = []
    counters: dict[int, int] = {}

    async def producer() -> None:
        uid = 1000
        while not stop.is_set():
            chunk = []
            for _ in range(20):
                uid = 1001 + (uid - 1000) % 500
                counters[uid] = counters.get(uid, 0) + 1
                chunk.append((uid, 99, counters[uid], 7))
            await produce(redis, chunk)
            direct.extend(chunk)
            await asyncio.sleep(0.1)

    tasks.append(asyncio.create_task(producer()))
    await asyncio.sleep(3)
    assert all(p.rewards for p in players), "players earn before the outage"

    pg_server.stop()
    down_at = time.monotonic()
    backlog = []
    while time.monotonic() - down_at < OUTAGE_S:
        await asyncio.sleep(5)
        backlog.append(await outbox_total(redis))
        assert worker_proc.running, worker_proc.output_tail()
    pg_server.start()
    up_at = time.monotonic()
    # While it was down the outbox only grew, and every player kept earning. (How fast it
    # grew and drained is the fault drill's to measure: loadtests/faults.sh.)
    assert backlog == sorted(backlog) and backlog[-1] > backlog[0], backlog
    for p in players:
        assert any(down_at < r.at < up_at for r in p.rewards), p.user_id

    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*tasks)
    assert not any(p.errors for p in players), [p.errors for p in players]

    await wait_until(lambda: _empty(redis), 30, "the backlog drained")
    drained_in = time.monotonic() - up_at
    expected = {reward_id(g): (g[0], g[3]) for g in direct}
    for p in players:
        for r in p.rewards:
            expected[r.reward_id] = (p.user_id, r.amount)
    await wait_until(lambda: _ledger_has(engine, len(expected)), 10, "the last commit")
    await assert_money_consistent(engine, redis, expected)
    # The shown balance (in each reward frame) was the exact sum of rewards so far, before,
    # during and after the outage.
    for p in players:
        running = 0
        for r in p.rewards:
            running += r.amount
            assert r.balance == running, (p.user_id, r.reward_id, r.balance, running)
    # Session history: one row per player, ended by the stop, holding exactly the time its
    # ticks credited, which is no more than the time that passed; the content counted 10
    # views; the rewards shown are the ledger's.
    await wait_until(lambda: _sessions_ended(engine, 10), 10, "the session ends")
    watches = [p.watch() for p in players]
    assert_time_conserved(watches, heartbeat_ms=1000)
    await assert_sessions_persisted(engine, watches)
    await assert_rewards_paid(engine, watches)
    async with engine.connect() as conn:
        views = (
            await conn.execute(text("SELECT view_count FROM contents WHERE id = :c"), {"c": cid})
        ).scalar()
    assert views == 10
    print(f"\nbacklog during the outage {backlog}; drained {drained_in:.1f}s after restart")
    worker_proc.terminate()


async def _empty(redis: Any) -> bool:
    return await outbox_total(redis) == 0


async def _ledger_has(engine: Any, n: int) -> bool:
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM coin_transactions"))).scalar()
    return bool(count == n)


async def _sessions_ended(engine: Any, n: int) -> bool:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM watch_sessions WHERE ended_at IS NOT NULL"
                    " AND end_reason = 'stop' AND device_id = 'dev' AND credited_ms > 0"
                )
            )
        ).scalar()
    return bool(rows == n)
