"""Helpers for the money-path tests: grants written the way tick.lua writes them, worker
processes with short timings, polling, and the checks every test ends with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import pytest
from sqlalchemy import text

from devkit import outbox
from devkit.outbox import Grant, reward_id  # noqa: F401 - the tests' names for them
from live import keys
from tests.support import conservation
from tests.support.waiting import wait_until  # noqa: F401 - the tests' name for it

PARTITIONS = 16


async def produce(
    redis: Any, grants: Iterable[Grant], partitions: int = PARTITIONS, chunk: int = 2000
) -> list[str]:
    """Grants in the outbox as tick.lua writes them (devkit.outbox), on the tests' partitions."""
    return await outbox.produce(redis, grants, partitions, chunk)


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
