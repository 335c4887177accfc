"""Helpers for the money-path tests: grants written the way tick.lua writes them, worker
processes with short timings, polling, and the checks every test ends with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import pytest
from sqlalchemy import text

from devkit import outbox
from devkit.outbox import Grant, reward_id  # noqa: F401 - the tests' names for them
from live import keys

PARTITIONS = 16

# Short leases and claim times so that take-overs happen within a test; no metrics server
# unless a test asks for one.
FAST_WORKER = {
    "REDIS_PARTITIONS": str(PARTITIONS),
    "WORKER_METRICS_PORT": "0",
    "WORKER_LEASE_MS": "1500",
    "WORKER_CLAIM_IDLE_MS": "2000",
    "WORKER_POLL_MS": "20",
    "WORKER_SHUTDOWN_S": "5",
    "LOG_FORMAT": "text",
}


async def produce(
    redis: Any, grants: Iterable[Grant], partitions: int = PARTITIONS, chunk: int = 2000
) -> list[str]:
    """Grants in the outbox as tick.lua writes them (devkit.outbox), on the tests' partitions."""
    return await outbox.produce(redis, grants, partitions, chunk)


async def wait_until(
    check: Callable[[], Awaitable[Any]], timeout: float, what: str, every: float = 0.1
) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        await asyncio.sleep(every)


async def leases_held(redis: Any, partitions: int = PARTITIONS) -> bool:
    """True once every partition's drain lease is held (a worker is up and draining)."""
    pipe = redis.pipeline(transaction=False)
    for p in range(partitions):
        pipe.exists(keys.lease(p))
    return all(await pipe.execute())


async def scalar(engine: Any, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def ledger_count(engine: Any) -> int:
    return int(await scalar(engine, "SELECT count(*) FROM coin_transactions"))


async def outbox_total(redis: Any, partitions: int = PARTITIONS) -> int:
    pipe = redis.pipeline(transaction=False)
    for p in range(partitions):
        pipe.xlen(keys.outbox(p))
    return sum(await pipe.execute())


async def shown_balances(
    redis: Any, users: Sequence[int], partitions: int = PARTITIONS
) -> dict[int, tuple[int | None, int | None, int]]:
    """user -> (pg, v, pend) from the balance hashes."""
    pipe = redis.pipeline(transaction=False)
    for u in users:
        pipe.hmget(keys.UserKeys(u, partitions).balance, "pg", "v", "pend")
    out = {}
    for u, (pg, v, pend) in zip(users, await pipe.execute(), strict=False):
        out[u] = (None if pg is None else int(pg), None if v is None else int(v), int(pend or 0))
    return out


async def assert_money_consistent(
    engine: Any, redis: Any, expected: dict[str, tuple[int, int]], partitions: int = PARTITIONS
) -> None:
    """The end state every money test requires. `expected`: reward id -> (user, amount) of
    every grant that must be in the ledger, and nothing else may be.
    - the ledger holds exactly these reward ids, each once, with their amounts;
    - users.balance == the sum of the user's ledger rows;
    - Redis: pend == 0, and the cached pg/v equal PostgreSQL's balance/balance_version;
    - the outbox is empty and nothing is pending in the group."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT reward_id, user_id, amount FROM coin_transactions"))
        ).all()
        balances = dict((await conn.execute(text("SELECT id, balance FROM users"))).all())
        versions = dict((await conn.execute(text("SELECT id, balance_version FROM users"))).all())
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert len(rows) == len(got), "a reward id is in the ledger twice"
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    assert not missing, f"{len(missing)} grants missing from the ledger, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected ledger rows, e.g. {sorted(extra)[:5]}"
    assert got == expected
    per_user: dict[int, int] = {}
    for uid, amount in got.values():
        per_user[uid] = per_user.get(uid, 0) + amount
    for uid, total in per_user.items():
        assert balances[uid] == total, (uid, balances[uid], total)
    shown = await shown_balances(redis, sorted(per_user), partitions)
    for uid, (pg, v, pend) in shown.items():
        assert pend == 0, (uid, pend)
        assert (pg, v) == (balances[uid], versions[uid]), (uid, pg, v, balances[uid], versions[uid])
    assert await outbox_total(redis, partitions) == 0
    for p in range(partitions):
        info = await redis.xpending(keys.outbox(p), keys.OUTBOX_GROUP)
        assert info["pending"] == 0, (p, info)


@pytest.fixture
async def app(make_settings: Callable[..., Any], redis: Any, engine: Any) -> AsyncIterator[Any]:
    """A WorkerApp in this process, without its drain loops or metrics server: its clients,
    metrics and store, for calling the jobs (`ctx = {"app": app}`) and reconcile directly."""
    from workers.config import load_config
    from workers.main import WorkerApp

    settings = make_settings(redis_partitions=PARTITIONS)
    config = load_config({"WORKER_ID": "in-test", "WORKER_METRICS_PORT": "0"})
    worker_app = await WorkerApp.open(settings, config, drain=False, serve_metrics=False)
    try:
        yield worker_app
    finally:
        await worker_app.close()


@pytest.fixture
def worker(spawn_cmd: Callable[..., Any]) -> Callable[..., Any]:
    """`worker(**env)` starts `arq workers.main.WorkerSettings` with FAST_WORKER timings."""

    def start(**overrides: str) -> Any:
        return spawn_cmd(["arq", "workers.main.WorkerSettings"], {**FAST_WORKER, **overrides})

    return start
