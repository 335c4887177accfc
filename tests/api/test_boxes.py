"""Random boxes: progress from watch rewards, odds from the reward table, opening pays once
(idempotency keys, real concurrent requests against spawned api processes)."""

from __future__ import annotations

import asyncio
import collections

import httpx

from api import rewards
from live.keys import UserKeys
from tests.api.money import FAST_ENV, grant_watch_rewards, rows, scalar, upload_table
from tests.support.conservation import assert_balances_are_ledger_sums

ODDS = "amount,weight\n10,3\n100,1\n"


async def test_status_counts_watch_rewards_and_shows_odds(client, admin, auth, engine):
    """25 watch rewards make 2 boxes with 5 toward the next; the odds are the table's."""
    r = await client.get("/api/boxes", headers=auth(5))
    assert r.status_code == 200
    assert r.json()["data"] == {
        "watch_rewards": 0,
        "rewards_per_box": 10,
        "earned": 0,
        "opened": 0,
        "available": 0,
        "progress": 0,
        "next_box_in": 10,
        "reward_table_id": None,
        "odds": [],
    }
    await grant_watch_rewards(engine, 5, 25)
    table = await upload_table(client, admin, ODDS)
    data = (await client.get("/api/boxes", headers=auth(5))).json()["data"]
    assert (data["watch_rewards"], data["earned"], data["available"]) == (25, 2, 2)
    assert (data["progress"], data["next_box_in"]) == (5, 5)
    assert data["reward_table_id"] == table["id"]
    assert data["odds"] == [
        {"amount": 10, "weight": 3, "probability": 0.75},
        {"amount": 100, "weight": 1, "probability": 0.25},
    ]


async def test_open_pays_through_the_ledger_and_refreshes_the_cached_balance(
    client, admin, auth, engine, redis, settings
):
    """An open writes one `box` ledger entry (reward_id b:<user>:1), adds to the balance,
    bumps balance_version, and the hub's cached balance follows."""
    await grant_watch_rewards(engine, 5, 10)
    await upload_table(client, admin, "7,1\n")
    r = await client.post("/api/boxes/open", headers=auth(5))
    assert r.status_code == 201, r.text
    assert r.headers["idempotent-replayed"] == "false"
    data = r.json()["data"]
    assert (data["box_no"], data["amount"], data["reward_id"]) == (1, 7, "b:5:1")
    assert data["balance"] == 107 and data["created_at"].endswith("+09:00")
    [(kind, amount, reward_id)] = await rows(
        engine, "SELECT kind, amount, reward_id FROM coin_transactions WHERE kind = 'box'"
    )
    assert (kind, amount, reward_id) == ("box", 7, "b:5:1")
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 107
    assert await scalar(engine, "SELECT balance_version FROM users WHERE id = 5") == 2
    cached = await redis.hgetall(UserKeys(5, settings.redis_partitions).balance)
    assert (cached[b"pg"], cached[b"v"]) == (b"107", b"2")
    status = (await client.get("/api/boxes", headers=auth(5))).json()["data"]
    assert (status["opened"], status["available"]) == (1, 0)


async def test_no_box_and_no_table(client, admin, auth, engine):
    """Without an earned box the open is 409 no_box_available; with one but before any
    reward table it is 503 unavailable; nothing is paid either way."""
    r = await client.post("/api/boxes/open", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "no_box_available")
    assert r.json()["error"]["details"]["next_box_in"] == 10
    await grant_watch_rewards(engine, 5, 10)
    r = await client.post("/api/boxes/open", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")
    assert await scalar(engine, "SELECT count(*) FROM box_opens") == 0


async def test_same_key_returns_the_first_result(client, admin, auth, engine):
    """A retried open with the same Idempotency-Key answers the first open, pays nothing."""
    await grant_watch_rewards(engine, 5, 30)
    await upload_table(client, admin, ODDS)
    headers = {**auth(5), "Idempotency-Key": "open-1"}
    first = await client.post("/api/boxes/open", headers=headers)
    again = await client.post("/api/boxes/open", headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["data"] == again.json()["data"]
    assert await scalar(engine, "SELECT count(*) FROM coin_transactions WHERE kind = 'box'") == 1
    other = await client.post("/api/boxes/open", headers={**auth(5), "Idempotency-Key": "2"})
    assert other.json()["data"]["box_no"] == 2
    paid = first.json()["data"]["amount"] + other.json()["data"]["amount"]
    assert other.json()["data"]["balance"] == 300 + paid
    await assert_balances_are_ledger_sums(engine, [5])


async def test_keys_and_opens_belong_to_one_user(client, admin, auth, engine):
    """Another user's equal key opens that user's own box; a user cannot read another's
    open (404) and lists only their own."""
    await grant_watch_rewards(engine, 5, 10)
    await grant_watch_rewards(engine, 6, 10)
    await upload_table(client, admin, ODDS)
    a = await client.post("/api/boxes/open", headers={**auth(5), "Idempotency-Key": "k"})
    b = await client.post("/api/boxes/open", headers={**auth(6), "Idempotency-Key": "k"})
    assert b.headers["idempotent-replayed"] == "false"
    assert a.json()["data"]["id"] != b.json()["data"]["id"]
    assert b.json()["data"]["reward_id"] == "b:6:1"
    open_a = a.json()["data"]["id"]
    assert (await client.get(f"/api/boxes/opens/{open_a}", headers=auth(5))).status_code == 200
    r = await client.get(f"/api/boxes/opens/{open_a}", headers=auth(6))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    listed = (await client.get("/api/boxes/opens", headers=auth(6))).json()["data"]
    assert [o["reward_id"] for o in listed["items"]] == ["b:6:1"]
    assert (
        await scalar(engine, "SELECT balance FROM users WHERE id = 6")
        == 100 + b.json()["data"]["amount"]
    )
    await assert_balances_are_ledger_sums(engine, [5, 6])


async def test_opens_list_is_paginated_newest_first(client, admin, auth, engine):
    """Three opens, limit 2: two pages, newest first, the second without next_cursor."""
    await grant_watch_rewards(engine, 5, 30)
    await upload_table(client, admin, ODDS)
    for _ in range(3):
        assert (await client.post("/api/boxes/open", headers=auth(5))).status_code == 201
    first = (await client.get("/api/boxes/opens?limit=2", headers=auth(5))).json()["data"]
    assert [o["box_no"] for o in first["items"]] == [3, 2]
    nxt = first["next_cursor"]
    second = (await client.get(f"/api/boxes/opens?limit=2&cursor={nxt}", headers=auth(5))).json()[
        "data"
    ]
    assert ([o["box_no"] for o in second["items"]], second["next_cursor"]) == ([1], None)
    r = await client.get("/api/boxes/opens?cursor=bogus", headers=auth(5))
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "cursor")


async def test_malformed_key_is_refused(client, auth):
    """An Idempotency-Key over 200 characters or with spaces is a 400 naming the header."""
    for key in ("x" * 201, "has space"):
        r = await client.post("/api/boxes/open", headers={**auth(5), "Idempotency-Key": key})
        assert r.status_code == 400
        assert r.json()["error"]["details"]["field"] == "Idempotency-Key"


async def test_box_routes_need_a_token(client):
    """No token: 401 on status and open."""
    assert (await client.get("/api/boxes")).status_code == 401
    assert (await client.post("/api/boxes/open")).status_code == 401


def test_draw_follows_the_weights():
    """draw() picks each amount with probability weight / total (20,000 draws, 1:3)."""
    table = rewards.view(1, [(1, 1), (2, 3)], None, None)  # type: ignore[arg-type]
    counts = collections.Counter(rewards.draw(table) for _ in range(20_000))
    assert set(counts) == {1, 2}
    assert 0.22 < counts[1] / 20_000 < 0.28


async def _open_many(urls, headers_list):
    async with httpx.AsyncClient(timeout=30) as http:
        return await asyncio.gather(
            *(
                http.post(f"{urls[i % len(urls)]}/api/boxes/open", headers=h)
                for i, h in enumerate(headers_list)
            )
        )


async def test_concurrent_opens_with_one_key_pay_once(spawn, token, engine):
    """40 concurrent opens with the same key on two api processes: one open, one payment,
    every answer the same result."""
    await grant_watch_rewards(engine, 5, 50)
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        await upload_table(http, admin, ODDS, base=a.url)
    user = {"Authorization": f"Bearer {token(5)}", "Idempotency-Key": "same"}
    answers = await _open_many([a.url, b.url], [user] * 40)
    assert {r.status_code for r in answers} == {201}
    assert len({r.content.split(b'"data":')[1] for r in answers}) == 1
    assert await scalar(engine, "SELECT count(*) FROM box_opens") == 1
    assert await scalar(engine, "SELECT count(*) FROM coin_transactions WHERE kind = 'box'") == 1
    amount = answers[0].json()["data"]["amount"]
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 500 + amount
    await assert_balances_are_ledger_sums(engine, [5])


async def test_concurrent_opens_never_exceed_the_boxes_earned(spawn, token, engine):
    """3 boxes earned, 30 concurrent opens with different keys on two processes: exactly 3
    open (box numbers 1-3), the rest are 409, and the balance holds exactly their coins."""
    await grant_watch_rewards(engine, 5, 39)
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        await upload_table(http, admin, ODDS, base=a.url)
    bearer = f"Bearer {token(5)}"
    answers = await _open_many(
        [a.url, b.url], [{"Authorization": bearer, "Idempotency-Key": f"k{i}"} for i in range(30)]
    )
    statuses = collections.Counter(r.status_code for r in answers)
    assert statuses == {201: 3, 409: 27}, statuses
    opened = sorted(r.json()["data"]["box_no"] for r in answers if r.status_code == 201)
    assert opened == [1, 2, 3]
    paid = sum(r.json()["data"]["amount"] for r in answers if r.status_code == 201)
    assert (
        await scalar(engine, "SELECT sum(amount) FROM coin_transactions WHERE kind = 'box'") == paid
    )
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 390 + paid
    await assert_balances_are_ledger_sums(engine, [5])
