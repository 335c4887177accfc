"""Redis (AOF, appendfsync everysec) killed and restarted while grants are made and drained.

Crashes, each measured:
- process: SIGKILL. Redis writes the AOF to the OS before it answers a command, and the OS
  keeps what was written when a process dies: no acknowledged write is lost.
- power: SIGKILL, then the AOF cut back to the size it had one second before (what
  `everysec` may leave unsynced when the machine itself goes down). Redis state goes back
  one second. Grants of that second that the worker had already drained stay in the ledger,
  and the hub grants the same reward ids again (its counters went back too): written once.
  Users who stopped watching at the crash keep a cached balance that is behind PostgreSQL's
  until the reconcile pass repairs it.
- power_behind: the same with the worker stopped (SIGSTOP) for the last 1.5 s, so the last
  second's grants had not been drained: they are lost, with the watch time that earned them.
Always: the ledger holds no grant twice and none that was not made, nothing granted after the
restart is lost, and after the drain and a reconcile pass, balances and caches agree with
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from redis.exceptions import RedisError
from sqlalchemy import text

from core.redis_client import make_redis
from live.lanes import TickParams
from live.store import LiveStore
from tests.workers.conftest import (
    PARTITIONS,
    assert_money_consistent,
    leases_held,
    outbox_total,
    wait_until,
)
from workers import reconcile
from workers.main import asyncpg_dsn, close_redis

USERS = range(1, 101)
STAYERS = range(1, 91)  # users 91-100 stop watching at the crash
CID = 5
# A reward per 100 ms of credit; a tick credits the time since the previous one, at most
# 300 ms (1.5 x the heartbeat interval), so a pause does not pour out rewards after it.
PARAMS = TickParams(
    heartbeat_ms=200,
    ttl_ms=600_000,
    interval_ms=100,
    amount=10,
    cap=0,
    paused=False,
    tz_offset_ms=0,
)
UNSYNCED_S = 1.0  # what everysec may lose on a power loss


def _incr_aof(data_dir: Path) -> Path:
    return max((data_dir / "appendonlydir").glob("*.incr.aof"), key=lambda p: p.stat().st_mtime)


@pytest.mark.parametrize("crash", ["process", "power", "power_behind"])
async def test_redis_crash_with_aof_everysec_loses_at_most_the_last_second(
    crash: str, make_redis_server: Any, redis_server: Any, settings: Any, engine: Any, worker: Any
) -> None:
    server = make_redis_server(aof=True)
    live = make_redis(msgspec.structs.replace(settings, redis_url=server.url), pool_size=16)
    store = LiveStore(live, PARTITIONS)
    try:
        await _run(crash, server, live, store, redis_server, settings, engine, worker)
    finally:
        await store.close()
        await close_redis(live)


async def _run(
    crash: str,
    server: Any,
    live: Any,
    store: LiveStore,
    redis_server: Any,
    settings: Any,
    engine: Any,
    worker: Any,
) -> None:
    await store.load_scripts()
    # arq's queue on another Redis (ARQ_REDIS_URL, as recommended), so that only the live
    # state restarts; arq itself exits when its own Redis goes away.
    proc = worker(REDIS_URL=server.url, ARQ_REDIS_URL=redis_server.url)
    await wait_until(lambda: leases_held(live), 30, "the worker's leases")
    for uid in USERS:
        await store.start(uid, CID, "t", "d", False, f"s{uid}", "n", "c", "ws", 600_000)

    granted: dict[str, int] = {}  # reward id -> Redis time (ms) of the tick that granted it
    granted_after: set[str] = set()
    after = False
    # (time, size of the AOF being appended, outbox entries), every 10 ms while producing
    sizes: list[tuple[float, int, int]] = []

    failures: list[str] = []  # ticks refused or failed; only while Redis is down may they

    async def tick(uid: int) -> None:
        try:
            r = await store.tick(uid, CID, "", 0, "t", "d", True, PARAMS)
        except (RedisError, OSError) as exc:
            failures.append(f"{'after' if after else 'before'}: {type(exc).__name__}")
            return
        if r.status != "ok":
            failures.append(f"{'after' if after else 'before'}: {r.status}")
            return
        for rid in r.granted:
            if after:
                granted_after.add(rid)
            granted.setdefault(rid, r.now_ms)

    async def sample(end: float) -> None:
        while time.monotonic() < end:
            try:
                backlog = await outbox_total(live)
            except (RedisError, OSError):
                return
            sizes.append((time.time(), _incr_aof(server.data_dir).stat().st_size, backlog))
            await asyncio.sleep(0.01)

    async def produce_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        sampler = asyncio.create_task(sample(end))
        while time.monotonic() < end:
            await asyncio.gather(*(tick(uid) for uid in (STAYERS if after else USERS)))
            await asyncio.sleep(0.1)
        await sampler

    await produce_for(3.0)
    assert not failures, failures[:5]  # Redis is up: every tick must be answered ok
    if crash == "power_behind":
        proc.signal(signal.SIGSTOP)
        await produce_for(1.5)
    killed = time.time()
    server.kill()  # SIGKILL
    before = dict(granted)
    if crash != "process":
        # The page cache is gone with the machine: keep what was on disk a second earlier.
        # For "power", at a moment when every grant had been acknowledged: then no replay
        # comes to refresh the cached balance of those who leave, and reconcile must.
        keep = max(
            size
            for at, size, backlog in sizes
            if at <= killed - UNSYNCED_S and (backlog == 0 or crash == "power_behind")
        )
        os.truncate(_incr_aof(server.data_dir), keep)
    await asyncio.sleep(0.5)
    server.start()
    if crash == "power_behind":
        proc.signal(signal.SIGCONT)
    restarted = time.monotonic()
    # What survived the crash is in the ledger once what Redis kept is drained.
    await wait_until(lambda: _drained(live), 30, "the outbox drained after the restart")
    kept = await _ledger(engine)
    lost = {rid: ms for rid, ms in before.items() if rid not in kept}
    window_ms = max((int(killed * 1000) - ms for ms in lost.values()), default=0)
    # Watching goes on: rewards whose watch time Redis forgot are earned again, same ids.
    after = True
    await produce_for(2.0)
    # After the restart every tick is answered: a session the crash forgot is no_session
    # only for users whose start Redis lost, which the AOF kept here (600 s TTL).
    assert not [f for f in failures if f.startswith("after")], failures[:5]

    await wait_until(lambda: _drained(live), 30, "the outbox drained")
    ledger = await _ledger(engine)
    # The worker's own reconcile (at start, then every 5 minutes) must not race this one.
    assert proc.terminate() == 0
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=2)
    try:
        # Repairs what replays cannot: after a power loss, a user who stopped watching and
        # whose last drained grants Redis forgot has a cached PostgreSQL balance that is
        # behind, and no ack of a replay will come to refresh it.
        report = await reconcile.reconcile(live, pool, PARTITIONS)
        again = await reconcile.reconcile(live, pool, PARTITIONS)
    finally:
        await pool.close()
    assert again.repairs == {}, again  # idempotent: a second pass finds nothing

    print(
        f"\n{crash} crash: {len(before)} grants before it, {len(lost)} lost, all made in the "
        f"last {window_ms} ms before it ({len(set(lost) & ledger)} earned again later); "
        f"{len(granted_after)} granted after the restart, "
        f"{len(granted_after & set(before))} of them with an id granted before; reconcile "
        f"repairs {report.repairs}; restart to drained {time.monotonic() - restarted:.1f}s"
    )
    if crash == "process":
        assert not lost
    else:
        assert window_ms <= (UNSYNCED_S + 0.5) * 1000, sorted(lost.values())[:5]
    if crash == "power_behind":
        assert lost, "a second of undrained grants cut from the AOF should be lost"
    if crash == "power":
        assert report.repairs.get("pg", 0) >= 5, report  # the users who left
    # Watching went on after the restart, and what it granted is in the ledger. The ledger is
    # what Redis said it granted (the tick replies), less what the crash may lose and was
    # not earned again: built from the grants, not from the ledger itself.
    assert granted_after, "nothing was granted after the restart: the test proves nothing"
    expected_ids = set(granted) - (set(lost) - granted_after)
    assert ledger == expected_ids, (
        sorted(ledger - expected_ids)[:5],
        sorted(expected_ids - ledger)[:5],
    )
    expected = {rid: (int(rid.split(":")[1]), 10) for rid in expected_ids}
    await assert_money_consistent(engine, live, expected)


async def _ledger(engine: Any) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT reward_id FROM coin_transactions"))
        return {r[0] for r in rows.all()}


async def _drained(redis: Any) -> bool:
    try:
        return await outbox_total(redis) == 0
    except (RedisError, OSError):
        return False
