"""Multi-account review on the money path: held grants land in the ledger as held (their
reward ids used, outside the balance), review flags become rows, an approval before the
drain pays them, reconcile still finds Redis and PostgreSQL equal, and end to end through a
real hub, worker and api: accounts sharing a device are held, then paid once on approval."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from live import keys, scripts
from live.scripts import ScriptRunner
from tests.workers.conftest import (
    PARTITIONS,
    leases_held,
    outbox_total,
    produce,
    shown_balances,
    wait_until,
)
from tests.workers.players import HUB_ENV, Player, add_content, watch
from workers import ledger, reconcile
from workers.entries import Batch, Flag, Grant

# What tick.lua writes for a grant of a user on hold: the entry marked `hold 1`, pend unchanged.
PRODUCE_HELD_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #ARGV, 3 do
  local uid, cid, n = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('XADD', KEYS[1], '*', 't', 'g', 'rid', 'w:' .. uid .. ':' .. cid .. ':' .. n,
    'uid', uid, 'cid', cid, 'amt', 10, 'ts', now, 'hold', '1')
end
"""


async def produce_held(redis: Any, grants: list[tuple[int, int, int]]) -> None:
    """Held grants (user, content, n) of 10 coins, like tick.lua while the user is on hold."""
    by_p: dict[int, list[Any]] = {}
    for g in grants:
        by_p.setdefault(keys.partition_of(g[0], PARTITIONS), []).extend(g)
    for p, args in by_p.items():
        await redis.eval(PRODUCE_HELD_LUA, 1, keys.outbox(p), *args)


async def flag(redis: Any, uid: int, accounts: int = 4) -> int:
    """Put `uid` on hold through the hub's flag.lua."""
    k = keys.UserKeys(uid, PARTITIONS)
    return int(
        await ScriptRunner(redis).run(
            scripts.FLAG, (k.balance, k.outbox), (uid, "device", "tv-1", accounts)
        )
    )


async def _rows(engine: Any, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def _drained(redis: Any) -> bool:
    return await outbox_total(redis) == 0


async def test_held_grants_and_flags_are_persisted_held_outside_the_balance(
    redis: Any, engine: Any, worker: Any, app: Any
) -> None:
    """User 1 earns 2 paid grants, is flagged, then earns 3 held ones; user 2 is never
    flagged. After the drain: every grant is in the ledger once, user 1's held ones with
    status held; balances count paid rows only; one review row; pend back to 0 and the cached
    balances equal PostgreSQL's; reconcile finds nothing to repair."""
    await produce(redis, [(1, 5, 1, 10), (1, 5, 2, 10), (2, 5, 1, 10)])
    assert await flag(redis, 1) == 1
    await produce_held(redis, [(1, 5, 3), (1, 5, 4), (1, 5, 5)])
    assert (await shown_balances(redis, [1]))[1][2] == 20  # pend: the paid two only
    worker()
    await wait_until(lambda: _drained(redis), 20, "the outbox drained")
    rows = await _rows(
        engine,
        "SELECT reward_id, user_id, amount, status FROM coin_transactions ORDER BY reward_id",
    )
    assert rows == [
        ("w:1:5:1", 1, 10, "paid"),
        ("w:1:5:2", 1, 10, "paid"),
        ("w:1:5:3", 1, 10, "held"),
        ("w:1:5:4", 1, 10, "held"),
        ("w:1:5:5", 1, 10, "held"),
        ("w:2:5:1", 2, 10, "paid"),
    ]
    assert await _rows(engine, "SELECT id, balance, review_hold FROM users ORDER BY id") == [
        (1, 20, True),
        (2, 10, False),
    ]
    [review] = await _rows(
        engine, "SELECT user_id, reason, key, accounts, status, decided_by FROM account_reviews"
    )
    assert review == (1, "device", "tv-1", 4, "open", None)
    versions = dict(await _rows(engine, "SELECT id, balance_version FROM users"))
    shown = await shown_balances(redis, [1, 2])
    assert shown == {1: (20, versions[1], 0), 2: (10, versions[2], 0)}
    report = await reconcile.reconcile(app.redis, app.pool, PARTITIONS)
    assert report.repairs == {} and report.users == 2


async def test_a_held_grant_of_a_user_approved_before_the_drain_is_paid(
    app: Any, engine: Any
) -> None:
    """The drain decides held or paid from PostgreSQL's `users.review_hold` under the user's
    row lock: a flag makes it held; once cleared (an approval), grants still marked held in
    the outbox are paid. Replays of either write nothing."""
    f = Flag("1-0", "f:1:100", 1, "device", "tv", 4, 1_795_000_000_000)
    g1 = Grant("1-1", "w:1:5:1", 1, 5, 10, 1_795_000_000_001, held=True)
    g2 = Grant("1-2", "w:1:5:2", 1, 5, 10, 1_795_000_000_002, held=True)

    async def write(*entries: Any) -> ledger.Written:
        async with app.pool.acquire() as conn, conn.transaction():
            return await ledger.write(conn, Batch.build(entries))

    w = await write(f, g1)
    assert (w.flags, w.grants_held, w.grants_inserted) == (1, 1, 0)
    assert (await write(f, g1)).flags == 0  # a replay: no second review row
    async with engine.begin() as conn:  # what an approval does to the user row
        await conn.execute(text("UPDATE users SET review_hold = false WHERE id = 1"))
    w = await write(g1, g2)  # g1 again (a replay) and g2, still marked held
    assert (w.grants_held, w.grants_inserted, w.grants_replayed) == (0, 1, 1)
    assert w.balances[1] == (10, 1)
    assert await _rows(engine, "SELECT reward_id, status FROM coin_transactions ORDER BY 1") == [
        ("w:1:5:1", "held"),
        ("w:1:5:2", "paid"),
    ]
    assert await _rows(engine, "SELECT count(*) FROM account_reviews") == [(1,)]


async def test_reconcile_keeps_held_grants_out_of_pend(app: Any, redis: Any) -> None:
    """With held grants waiting in the outbox, `pend` is the sum of the paid ones only: a
    right pend is left alone, a wrong one is set to that sum (not counting the held)."""
    await produce(redis, [(3, 5, 1, 10), (3, 5, 2, 10)])
    await flag(redis, 3)
    await produce_held(redis, [(3, 5, 3), (3, 5, 4), (3, 5, 5)])
    report = await reconcile.reconcile(app.redis, app.pool, PARTITIONS)
    assert report.repairs == {}
    await redis.hset(keys.UserKeys(3, PARTITIONS).balance, "pend", 50)
    report = await reconcile.reconcile(app.redis, app.pool, PARTITIONS)
    assert report.repairs == {"pend": 1}
    assert (await shown_balances(redis, [3]))[3][2] == 20


async def _ledger(engine: Any, uid: int) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in await _rows(
            engine,
            "SELECT reward_id, status FROM coin_transactions WHERE user_id = :u"
            " ORDER BY split_part(reward_id, ':', 4)::int",
            u=uid,
        )
    ]


async def test_accounts_sharing_a_device_are_held_then_paid_once_on_approval(
    redis: Any, engine: Any, spawn: Any, worker: Any, token: Any, app: Any
) -> None:
    """Three accounts watch on one device id (limit 2) through a real hub: all three are
    flagged; their later rewards are never announced, land in the ledger as held with the
    following reward ids, and stay out of the balance; two concurrent approvals of one user
    (two api processes) pay its held coins once; reconcile finds Redis and PostgreSQL equal
    (ledger rows = every boundary Redis granted, held included)."""
    cid = await add_content(engine)
    worker()
    hub = spawn(
        "realtime.app:app",
        {**HUB_ENV, "REDIS_PARTITIONS": str(PARTITIONS), "REVIEW_ACCOUNTS_PER_DEVICE": "2"},
    )
    apis = [
        spawn(
            "api.app:app",
            {"REDIS_PARTITIONS": str(PARTITIONS), "ADMIN_RATE_LIMIT_PER_MINUTE": "1000"},
        )
        for _ in range(2)
    ]
    await wait_until(lambda: leases_held(redis), 20, "the worker's leases")
    stop = asyncio.Event()
    players = [Player(uid) for uid in (21, 22, 23)]
    tasks = []
    for p in players:  # one after the other: the third start crosses the limit
        tasks.append(
            asyncio.create_task(watch(hub.ws_url, token(p.user_id), p, cid, stop, every_s=0.2))
        )
        await asyncio.sleep(0.6)
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*tasks)
    assert not any(p.errors for p in players), [p.errors for p in players]
    await wait_until(lambda: _drained(redis), 20, "the outbox drained")

    for p in players:
        rows = await _ledger(engine, p.user_id)
        last_n = int(await redis.hget(keys.UserKeys(p.user_id, PARTITIONS).watch, f"n:{cid}"))
        # Every boundary Redis granted is in the ledger once, in order, held or not.
        assert [r for r, _ in rows] == [f"w:{p.user_id}:{cid}:{n}" for n in range(1, last_n + 1)]
        announced = {r.reward_id for r in p.rewards}
        assert announced == {r for r, s in rows if s == "paid"}, p.user_id
        assert any(s == "held" for _, s in rows), p.user_id
        # Once held, always held: no paid grant after the first held one.
        statuses = [s for _, s in rows]
        assert "paid" not in statuses[statuses.index("held") :]
        # The shown balance never counted a held grant.
        assert not p.rewards or p.rewards[-1].balance == 10 * len(announced)
    # The first account watched 1.2 s before the third start put all three on hold: it was
    # shown a paid reward, so the balance check above checked something.
    assert players[0].rewards, "no paid reward before the hold: the balance check is vacuous"
    reviews = await _rows(
        engine,
        "SELECT user_id, reason, key, accounts, status FROM account_reviews ORDER BY user_id",
    )
    assert reviews == [(u, "device", "dev", 3, "open") for u in (21, 22, 23)]
    paid = dict(
        await _rows(
            engine,
            "SELECT user_id, sum(amount) FROM coin_transactions WHERE status = 'paid' GROUP BY 1",
        )
    )
    balances = dict(await _rows(engine, "SELECT id, balance FROM users"))
    assert all(balances[u] == paid.get(u, 0) for u in (21, 22, 23)), (balances, paid)
    assert (await reconcile.reconcile(app.redis, app.pool, PARTITIONS)).repairs == {}

    # Two approvals of user 22 at once, on two api processes: its held coins are paid once.
    held = sum(10 for _, s in await _ledger(engine, 22) if s == "held")
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{api.url}/api/admin/users/22/review/approve", headers=admin)
                for api in apis * 3
            )
        )
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert sorted(a.json()["data"]["coins"] for a in answers) == [0] * 5 + [held]
    assert await _rows(engine, "SELECT balance FROM users WHERE id = 22") == [
        (balances[22] + held,)
    ]
    assert {s for _, s in await _ledger(engine, 22)} == {"paid"}
    assert await redis.hget(keys.UserKeys(22, PARTITIONS).balance, "hold") == b"0"
    pg, _, pend = (await shown_balances(redis, [22]))[22]
    assert (pg, pend) == (balances[22] + held, 0)
    assert (await reconcile.reconcile(app.redis, app.pool, PARTITIONS)).repairs == {}
