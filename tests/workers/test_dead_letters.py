"""Entries that cannot be written go to the dead-letter stream, counted and logged, and do
not hold up the others; the replay tool puts them back once their cause is fixed."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

from devkit.servers import free_port
from live import keys
from tests.workers.conftest import (
    PARTITIONS,
    assert_money_consistent,
    outbox_total,
    produce,
    reward_id,
    shown_balances,
    wait_until,
)
from workers import deadletters


async def test_poison_entries_are_dead_lettered_and_the_rest_drains(
    redis: Any, engine: Any, worker: Any
) -> None:
    grants = [(uid, 2, n, 10) for uid in range(1, 201) for n in range(1, 6)]
    await produce(redis, grants[:500])
    p = 3  # poison in one partition, between valid grants
    # 1. Not an entry of ours at all.
    await redis.xadd(keys.outbox(p), {"foo": "bar"})
    # 2. A grant that parses but that PostgreSQL refuses (text cannot hold NUL), made like
    #    tick.lua makes grants (pend += 10): it must leave pend when dead-lettered.
    nul = [(p, 7, 1, 10)]
    await produce(redis, nul)
    await redis.execute_command(
        "XADD",
        keys.outbox(p),
        "*",
        "t",
        "g",
        "rid",
        "w:3:7:\x00",
        "uid",
        "3",
        "cid",
        "7",
        "amt",
        "10",
        "ts",
        "1",
    )
    await redis.hincrby(keys.UserKeys(3, PARTITIONS).balance, "pend", 10)
    # 3. A valid grant that has already been delivered 6 times (it kept killing workers).
    await redis.xgroup_create(keys.outbox(p), keys.OUTBOX_GROUP, id="0", mkstream=True)
    tired_grant = (19, 9, 1, 10)  # user 19 is in partition 3 too
    tired = (await produce(redis, [tired_grant]))[0]
    await redis.xreadgroup(keys.OUTBOX_GROUP, "ghost", {keys.outbox(p): ">"})
    await redis.execute_command(
        "XCLAIM", keys.outbox(p), keys.OUTBOX_GROUP, "ghost", 0, tired, "RETRYCOUNT", 6
    )
    await produce(redis, grants[500:])

    port = free_port()
    proc = worker(WORKER_METRICS_PORT=str(port), WORKER_CLAIM_IDLE_MS="100")
    await wait_until(lambda: _dead_count(redis, p, 3), 20, "three dead letters")
    await wait_until(lambda: _empty(redis), 20, "the rest drained")
    expected = {reward_id(g): (g[0], g[3]) for g in grants + nul}  # not the tired grant
    await assert_money_consistent(engine, redis, expected)
    # pend of the users of dead grants is back to 0 (tick.lua had added to it).
    assert (await shown_balances(redis, [3, 19]))[19][2] == 0

    dead = await deadletters.list_dead(redis, [p])
    why = sorted(d["dl_why"] for d in dead)
    assert why[0] == "delivered 7 times", why  # 6, and once more when read back
    assert any("unknown entry type" in w for w in why), why
    assert any(w.startswith("refused by PostgreSQL") for w in why), why
    metrics = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
    for name in (
        'worker_dead_letters_total{reason="unparseable"} 1.0',
        'worker_dead_letters_total{reason="refused"} 1.0',
        'worker_dead_letters_total{reason="deliveries"} 1.0',
        "worker_outbox_lag_seconds{",
        "worker_outbox_entries{",
        "worker_batches_total",
        'worker_rows_written_total{kind="grant"}',
        "worker_reconcile_repairs_total",
        "worker_partitions_held 16.0",
    ):
        assert name in metrics, name
    assert proc.stderr_text().count("moved to the dead letters") == 3

    # The grant that was delivered too often is fine: replayed, it is written once.
    moved = await deadletters.replay(
        redis, p, [d["id"] for d in dead if "delivered" in d["dl_why"]], PARTITIONS
    )
    assert moved == 1
    expected[reward_id(tired_grant)] = (19, 10)
    await wait_until(lambda: _empty(redis), 20, "the replay drained")
    await wait_until(lambda: _dead_count(redis, p, 2), 5, "two dead letters left")
    await assert_money_consistent(engine, redis, expected)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


async def _dead_count(redis: Any, p: int, n: int) -> bool:
    return int(await redis.xlen(keys.dead_letters(p))) == n


async def _empty(redis: Any) -> bool:
    if await outbox_total(redis):
        return False
    for p in range(PARTITIONS):
        if (await redis.xpending(keys.outbox(p), keys.OUTBOX_GROUP))["pending"]:
            return False
    return True
