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
from tests.support import conservation

PARTITIONS = 16


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
    return await conservation.outbox_total(redis, partitions)


async def shown_balances(
    redis: Any, users: Sequence[int], partitions: int = PARTITIONS
) -> dict[int, tuple[int | None, int | None, int]]:
    """user -> (pg, v, pend) from the balance hashes."""
    return await conservation.shown_balances(redis, users, partitions)


async def assert_money_consistent(
    engine: Any, redis: Any, expected: dict[str, tuple[int, int]], partitions: int = PARTITIONS
) -> None:
    """tests.support.conservation.assert_ledger on the tests' partitions."""
    await conservation.assert_ledger(engine, redis, expected, partitions)


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
