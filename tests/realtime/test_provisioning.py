"""First connections create users' rows in batches (realtime/provisioning.py), on the real
PostgreSQL: concurrent arrivals share INSERTs, every row exists afterwards, existing rows are
left alone, and a failure reaches every waiter of its batch without poisoning the next."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from realtime.provisioning import Provisioner

BASE = 880_000  # ids no other test uses


async def _existing(engine: Any, ids: list[int]) -> dict[int, list[str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, roles FROM users WHERE id = ANY(:ids)"), {"ids": ids}
        )
        return {int(r[0]): list(r[1]) for r in rows}


async def test_concurrent_first_connections_share_a_few_inserts(engine) -> None:  # type: ignore[no-untyped-def]
    ids = [BASE + i for i in range(300)]
    async with engine.begin() as conn:  # one of them exists already, as an admin
        await conn.execute(
            text(
                "INSERT INTO users (id, roles) OVERRIDING SYSTEM VALUE"
                " VALUES (:id, ARRAY['admin']) ON CONFLICT DO NOTHING"
            ),
            {"id": ids[7]},
        )
    p = Provisioner(engine, max_batch=100)
    await asyncio.gather(*(p.ensure(i) for i in ids + ids[:50]))  # some ask twice
    rows = await _existing(engine, ids)
    assert sorted(rows) == ids
    assert rows[ids[7]] == ["admin"] and rows[ids[8]] == ["viewer"]
    assert 3 <= p.batches <= 4  # 300 distinct users, 100 per INSERT (not 350 transactions)
    before = p.batches
    await p.ensure(ids[0])  # known now: no statement at all
    assert p.batches == before


async def test_a_failed_batch_fails_its_waiters_and_the_next_call_retries(engine) -> None:  # type: ignore[no-untyped-def]
    dead = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/watch")
    p = Provisioner(dead)
    ids = [BASE + 1000 + i for i in range(5)]
    results = await asyncio.gather(*(p.ensure(i) for i in ids), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results), results
    assert await _existing(engine, ids) == {}
    await dead.dispose()
    p.engine = engine  # PostgreSQL is back
    await asyncio.gather(*(p.ensure(i) for i in ids))
    assert sorted(await _existing(engine, ids)) == ids


async def test_a_waiter_that_gives_up_does_not_fail_the_others(engine) -> None:  # type: ignore[no-untyped-def]
    p = Provisioner(engine)
    uid = BASE + 2000
    first = asyncio.create_task(p.ensure(uid))
    second = asyncio.create_task(p.ensure(uid))
    await asyncio.sleep(0)
    first.cancel()
    await second
    assert uid in await _existing(engine, [uid])
