"""The caller's account, balance (the hub's rule: Redis pg + pend, PostgreSQL when not
cached) and coin ledger with cursor pagination."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from live.keys import UserKeys


async def test_me_provisions_token_user(client, auth):
    """A token user unknown to the database is provisioned and described."""
    r = await client.get("/api/me", headers=auth(42, ("viewer", "advertiser")))
    assert r.status_code == 200
    data = r.json()["data"]
    assert (data["id"], data["email"], sorted(data["roles"]), data["blocked"]) == (
        42,
        None,
        ["advertiser", "viewer"],
        False,
    )


async def test_me_requires_token(client):
    r = await client.get("/api/me")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")


async def test_balance_from_redis_cache(client, auth, redis, settings):
    """With `pg` cached, balance = pg + pend and pending = pend."""
    key = UserKeys(7, settings.redis_partitions).balance
    await redis.hset(key, mapping={"pg": 100, "v": 3, "pend": 30})
    r = await client.get("/api/me/balance", headers=auth(7))
    assert r.json()["data"] == {"balance": 130, "pending": 30}


async def test_balance_loads_postgres_when_not_cached(client, auth, redis, engine, settings):
    """Without `pg` in Redis the PostgreSQL balance is read and cached with its version;
    pending grants still count."""
    await client.get("/api/me", headers=auth(8))  # provision
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET balance = 55, balance_version = 4 WHERE id = 8"))
    key = UserKeys(8, settings.redis_partitions).balance
    await redis.hset(key, "pend", 10)
    r = await client.get("/api/me/balance", headers=auth(8))
    assert r.json()["data"] == {"balance": 65, "pending": 10}
    assert await redis.hmget(key, "pg", "v") == [b"55", b"4"]


async def test_balance_of_new_user_is_zero(client, auth):
    r = await client.get("/api/me/balance", headers=auth(9))
    assert r.json()["data"] == {"balance": 0, "pending": 0}


async def _ledger(engine, user_id, n, start=0):
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id) OVERRIDING SYSTEM VALUE VALUES (:u) ON CONFLICT DO NOTHING"
            ),
            {"u": user_id},
        )
        for i in range(start, start + n):
            await conn.execute(
                text(
                    "INSERT INTO coin_transactions (user_id, kind, amount, reward_id, content_id)"
                    " VALUES (:u, 'watch', 10, :rid, 3)"
                ),
                {"u": user_id, "rid": f"w:{user_id}:3:{i}"},
            )


async def test_coin_transactions_newest_first(client, auth, engine):
    """The ledger lists only the caller's entries, newest first, in the documented shape."""
    await _ledger(engine, 11, 3)
    await _ledger(engine, 12, 2)
    r = await client.get("/api/coin-transactions", headers=auth(11))
    data = r.json()["data"]
    assert data["next_cursor"] is None
    items = data["items"]
    assert [i["reward_id"] for i in items] == ["w:11:3:2", "w:11:3:1", "w:11:3:0"]
    assert set(items[0]) == {
        "id",
        "kind",
        "amount",
        "reward_id",
        "content_id",
        "created_at",
        "status",
    }
    assert items[0]["status"] == "paid"
    assert items[0]["created_at"].endswith("+09:00")


async def test_coin_transactions_pages_under_inserts(client, auth, engine):
    """Walking the pages while new entries arrive serves every older entry exactly once
    (new ones sit before the cursor and are not served on later pages)."""
    await _ledger(engine, 13, 25)
    seen, cursor, rounds = [], None, 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/coin-transactions", params=params, headers=auth(13))
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        seen += [i["id"] for i in data["items"]]
        await _ledger(engine, 13, 2, start=100 + 2 * rounds)
        rounds += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    assert seen == sorted(seen, reverse=True)


async def test_pagination_input_errors(client, auth):
    """limit outside 1-100 and a foreign or broken cursor are 400 naming the parameter."""
    for params, field in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "!!"}, "cursor"),
        ({"cursor": "WyJsYXRlc3QiLDFd"}, "cursor"),
    ]:
        r = await client.get("/api/coin-transactions", params=params, headers=auth(1))
        assert r.status_code == 400, params
        assert r.json()["error"]["details"]["field"] == field


async def test_balance_concurrent_first_reads(client, auth, engine):
    """Concurrent first reads (nothing cached) all answer the PostgreSQL balance."""
    await client.get("/api/me", headers=auth(14))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET balance = 9, balance_version = 1 WHERE id = 14"))
    results = await asyncio.gather(
        *(client.get("/api/me/balance", headers=auth(14)) for _ in range(5))
    )
    assert {r.json()["data"]["balance"] for r in results} == {9}


async def test_balance_unavailable_without_redis(client, api_app, auth, monkeypatch):
    """With Redis unreachable the balance is 503 unavailable (the pending part is unknown),
    not a guess."""
    from redis.asyncio import Redis

    from devkit.servers import free_port

    await client.get("/api/me", headers=auth(15))  # provision while Redis is up
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    monkeypatch.setattr(api_app.state, "redis", dead)
    try:
        r = await client.get("/api/me/balance", headers=auth(15))
    finally:
        await dead.aclose()
    assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")
