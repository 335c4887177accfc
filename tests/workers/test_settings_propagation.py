"""A runtime settings change through the table reaches a running hub within 5 s: the next
rewards carry the new amount, and the ledger records what the players were shown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from core.runtime import update_runtime
from tests.workers.conftest import PARTITIONS, assert_money_consistent, outbox_total, wait_until
from tests.workers.players import HUB_ENV, Player, add_content, watch


async def test_reward_amount_change_reaches_a_running_hub_within_5s(
    redis: Any, engine: Any, settings: Any, spawn: Any, worker: Any, token: Any
) -> None:
    cid = await add_content(engine)
    worker()
    # CONTROL_POLL_MS at its default (2 s): the bound must hold as deployed.
    hub = spawn(
        "realtime.app:app",
        {**HUB_ENV, "CONTROL_POLL_MS": None, "REDIS_PARTITIONS": str(PARTITIONS)},
    )
    player = Player(7)
    stop = asyncio.Event()
    task = asyncio.create_task(watch(hub.ws_url, token(7), player, cid, stop, every_s=0.1))
    await wait_until(lambda: _has_reward(player), 10, "a first reward")
    assert {r.amount for r in player.rewards} == {settings.runtime.reward_amount}

    async with async_sessionmaker(engine)() as session:
        await update_runtime(session, {"reward_amount": 25}, None, settings=settings)
        await session.commit()
    changed = time.monotonic()
    await wait_until(lambda: _has_amount(player, 25), 8, "a reward of 25")
    first = next(r for r in player.rewards if r.amount == 25)
    seen_after = first.at - changed
    await asyncio.sleep(1.5)
    stop.set()
    await task
    amounts = [r.amount for r in player.rewards]
    print(f"\nnew amount in the first reward {seen_after:.2f}s after the commit; {amounts}")
    assert seen_after <= 5.0
    # Switched once: the old amount, then only the new one.
    k = amounts.index(25)
    assert set(amounts[:k]) == {settings.runtime.reward_amount} and set(amounts[k:]) == {25}
    await wait_until(lambda: _empty(redis), 15, "the drain")
    await assert_money_consistent(
        engine, redis, {r.reward_id: (7, r.amount) for r in player.rewards}
    )


async def _has_reward(player: Player) -> bool:
    return bool(player.rewards)


async def _has_amount(player: Player, amount: int) -> bool:
    return any(r.amount == amount for r in player.rewards)


async def _empty(redis: Any) -> bool:
    return await outbox_total(redis) == 0
