"""A boosted content on real hubs: the boost is applied inside tick.lua, so racing tabs on
two nodes pay each boundary once, at the boosted amount, and ending the boost brings the
plain amount back (the ledger rows say so)."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.boosts import BoostSet, clear_boost, set_boost
from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until

BASE, PCT = 10, 250  # REWARD_AMOUNT's default, and the boost: 10 x 2.5 = 25 coins


async def boost(engine, cid: int, pct: int = PCT) -> None:  # type: ignore[no-untyped-def]
    body = BoostSet(multiplier_pct=pct, ends_at=datetime.now(UTC) + timedelta(hours=1))
    async with AsyncSession(engine) as session, session.begin():
        await set_boost(session, cid, body, 1)


async def ledger(engine, uid: int) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT reward_id, amount FROM coin_transactions WHERE user_id = :u"
                " AND kind = 'watch' ORDER BY id"
            ),
            {"u": uid},
        )
        return [(r.reward_id, r.amount) for r in rows]


async def test_two_racing_tabs_on_a_boosted_content_pay_each_boundary_once_boosted(
    hub, player, content, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """Two connections of one user on two hubs flood heartbeats on a boosted content: every
    boundary is one ledger row of 25 coins (10 x 250 %), none twice, and the frames shown
    are the ledger's (the conservation oracle)."""
    worker(REDIS_PARTITIONS="8")
    a, b = hub(WS_MAX_MESSAGES_PER_SECOND="10000"), hub(WS_MAX_MESSAGES_PER_SECOND="10000")
    cid = await content(reward_interval_ms=1000)
    await boost(engine, cid)
    x, y = await player(a, 81), await player(b, 81)
    watch = Watch(81, [x.frames, y.frames])
    await x.start(cid)
    assert (await y.start(cid))["resumed"]

    async def flood(c, seconds: float) -> int:  # type: ignore[no-untyped-def]
        last = 0
        end = time.monotonic() + seconds
        for _ in range(50_000):  # bounded; the clock ends it first
            if time.monotonic() > end:
                break
            tick = await c.request("heartbeat", "tick", playing=True, visible=True)
            last = max(last, tick["elapsed_ms"])
        return last

    elapsed = max(await asyncio.gather(flood(x, 3.5), flood(y, 3.5)))
    await x.request("stop", "stopped")
    watch.ended = time.time()
    await conserved(engine, [watch], heartbeat_ms=1000)
    paid = await ledger(engine, 81)
    expected = [(f"w:81:{cid}:{n}", BASE * PCT // 100) for n in range(1, elapsed // 1000 + 1)]
    assert expected and paid == expected


async def test_ending_the_boost_brings_the_plain_amount_back(
    hub, player, content, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """The hub learns the end of a boost from its catalog poll: boundaries before it pay
    25, the ones after pay 10, each once, the frames equal to the ledger."""
    worker(REDIS_PARTITIONS="8")
    h = hub()
    cid = await content(reward_interval_ms=1000)
    await boost(engine, cid)
    p = await player(h, 82)
    watch = Watch(82, [p.frames])
    await p.start(cid)

    def amounts() -> list[int]:
        return [amount for _, amount in watch.rewards()]

    async def beat_until(what: str, done) -> None:  # type: ignore[no-untyped-def]
        async def check() -> bool:
            await p.request("heartbeat", "tick", playing=True, visible=True)
            return bool(done())

        await wait_until(check, 30, what, every=0.3)

    await beat_until("a boosted reward", lambda: 25 in amounts())
    async with AsyncSession(engine) as session, session.begin():
        assert await clear_boost(session, cid) is not None
    await beat_until("a plain reward after the boost", lambda: amounts()[-1:] == [BASE])
    await p.request("stop", "stopped")
    watch.ended = time.time()
    await conserved(engine, [watch], heartbeat_ms=1000)
    paid = [amount for _, amount in await ledger(engine, 82)]
    first_plain = paid.index(BASE)
    assert paid[:first_plain] and set(paid[:first_plain]) == {25}
    assert set(paid[first_plain:]) == {BASE}
