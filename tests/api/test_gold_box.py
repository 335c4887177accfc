"""Gold boxes: earned by the admin's rule (one per N random boxes opened), drawn from their
own reward table, paid once as kind `gold_box` (idempotency keys, real concurrent clients on
spawned api processes); the admin's rules, table and switch are audited."""

from __future__ import annotations

import asyncio
import collections

import httpx

from tests.api.money import FAST_ENV, grant_watch_rewards, rows, scalar, upload_table
from tests.support.conservation import assert_balances_are_ledger_sums

GOLD_TABLE = "/api/admin/gold-box/reward-table"
RULES = "/api/admin/gold-box/rules"


async def _gold_table(http, admin, csv, base=""):
    r = await http.post(
        f"{base}{GOLD_TABLE}", content=csv.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def _earn(client, admin, auth, engine, user, gold):
    """`gold` gold boxes for `user`: rule 1 per 2 boxes, 2 * gold random boxes opened."""
    r = await client.put(RULES, json={"enabled": True, "boxes_per_gold": 2}, headers=admin)
    assert r.status_code == 200, r.text
    await upload_table(client, admin, "1,1\n")
    await grant_watch_rewards(engine, user, 20 * gold)
    for _ in range(2 * gold):
        assert (await client.post("/api/boxes/open", headers=auth(user))).status_code == 201


async def test_every_nth_box_earns_a_gold_box_and_shows_progress(client, admin, auth, engine):
    """With one gold box per 2 random boxes, 3 opens earn 1 gold box and 1 toward the next;
    the history lists the grant; the rules change is audited."""
    r = await client.get("/api/gold-box", headers=auth(5))
    assert r.status_code == 200
    assert r.json()["data"]["enabled"] is False and r.json()["data"]["next_gold_in"] is None
    await _earn(client, admin, auth, engine, 5, 1)
    await grant_watch_rewards(engine, 5, 10)
    assert (await client.post("/api/boxes/open", headers=auth(5))).status_code == 201
    data = (await client.get("/api/gold-box", headers=auth(5))).json()["data"]
    assert (data["earned"], data["available"], data["boxes_opened"]) == (1, 1, 3)
    assert (data["progress"], data["next_gold_in"]) == (1, 1)
    history = (await client.get("/api/gold-box/history", headers=auth(5))).json()["data"]
    assert [(e["kind"], e["source_id"]) for e in history["items"]] == [("earned", "g:b:5:2")]
    [(after,)] = await rows(engine, "SELECT after FROM audit_log WHERE action = 'gold_box.rules'")
    assert after == {"enabled": True, "boxes_per_gold": 2}


async def test_open_pays_gold_box_once_from_its_own_table(client, admin, auth, engine):
    """The open draws from the gold table (not the random box's), writes one `gold_box` row
    gb:<user>:1 and its event, and the second open with none held is 409 no_gold_box."""
    await _earn(client, admin, auth, engine, 5, 1)
    table = await _gold_table(client, admin, "amount,weight\n500,1\n")
    before = await scalar(engine, "SELECT balance FROM users WHERE id = 5")
    r = await client.post("/api/gold-box/open", headers=auth(5))
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert (data["gold_no"], data["amount"], data["reward_id"]) == (1, 500, "gb:5:1")
    assert data["reward_table_id"] == table["id"] and data["balance"] == before + 500
    r = await client.post("/api/gold-box/open", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "no_gold_box")
    assert await rows(
        engine, "SELECT reward_id, amount FROM coin_transactions WHERE kind = 'gold_box'"
    ) == [("gb:5:1", 500)]
    history = (await client.get("/api/gold-box/history", headers=auth(5))).json()["data"]
    assert [e["kind"] for e in history["items"]] == ["opened", "earned"]
    logged = await rows(engine, "SELECT type, data->>'reward_id' FROM user_events ORDER BY id")
    assert logged == [("box_open", "b:5:1"), ("box_open", "b:5:2"), ("gold_box_open", "gb:5:1")]
    random_table = (await client.get("/api/admin/reward-table", headers=admin)).json()["data"]
    assert random_table["rows"][0]["amount"] == 1  # the random box's table is unchanged
    await assert_balances_are_ledger_sums(engine, [5])


async def test_switched_off_or_no_table_refuses_the_open(client, admin, auth, engine):
    """On but without a gold table: 503 unavailable; off: a held gold box cannot be opened
    (409 conflict, reason switched_off) and boxes earn none. Nothing is paid."""
    await _earn(client, admin, auth, engine, 5, 1)
    r = await client.post("/api/gold-box/open", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")
    await client.put(RULES, json={"enabled": False, "boxes_per_gold": 2}, headers=admin)
    await _gold_table(client, admin, "5,1\n")
    r = await client.post("/api/gold-box/open", headers=auth(5))
    assert (r.status_code, r.json()["error"]["details"]) == (409, {"reason": "switched_off"})
    await grant_watch_rewards(engine, 5, 20)
    for _ in range(2):
        assert (await client.post("/api/boxes/open", headers=auth(5))).status_code == 201
    assert await scalar(engine, "SELECT count(*) FROM gold_box_grants") == 1
    assert await scalar(engine, "SELECT count(*) FROM gold_box_opens") == 0


async def test_bad_gold_table_row_is_refused_with_its_line(client, admin):
    """A bad row is a 400 naming its line; the gold table in force is unchanged."""
    await _gold_table(client, admin, "5,1\n")
    r = await client.post(
        GOLD_TABLE,
        content=b"amount,weight\n5,1\n5,x\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert (r.status_code, r.json()["error"]["details"]["line"]) == (400, 3)
    table = (await client.get(GOLD_TABLE, headers=admin)).json()["data"]
    assert [row["amount"] for row in table["rows"]] == [5]


async def test_gold_routes_need_a_token_and_admin_routes_an_admin(client, auth):
    """No token: 401; a viewer on the admin routes: 403."""
    assert (await client.get("/api/gold-box")).status_code == 401
    assert (await client.post("/api/gold-box/open")).status_code == 401
    assert (await client.get("/api/gold-box/history")).status_code == 401
    for method, path in (("GET", RULES), ("PUT", RULES), ("GET", GOLD_TABLE)):
        r = await client.request(method, path, headers=auth(5), json={"enabled": True})
        assert r.status_code == 403, (method, path)


async def _open_many(urls, headers_list):
    async with httpx.AsyncClient(timeout=30) as http:
        return await asyncio.gather(
            *(
                http.post(f"{urls[i % len(urls)]}/api/gold-box/open", headers=h)
                for i, h in enumerate(headers_list)
            )
        )


async def test_concurrent_gold_opens_pay_exactly_once(client, admin, auth, engine, spawn, token):
    """2 gold boxes held; 20 concurrent opens with one key on two processes open one, then
    20 with different keys open the other one only: two `gold_box` rows in all."""
    await _earn(client, admin, auth, engine, 5, 2)
    await _gold_table(client, admin, "10,1\n1000,1\n")
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    bearer = f"Bearer {token(5)}"
    same = await _open_many(
        [a.url, b.url], [{"Authorization": bearer, "Idempotency-Key": "k"}] * 20
    )
    assert {r.status_code for r in same} == {201}
    assert len({r.content.split(b'"data":')[1] for r in same}) == 1
    different = await _open_many(
        [a.url, b.url], [{"Authorization": bearer, "Idempotency-Key": f"d{i}"} for i in range(20)]
    )
    assert collections.Counter(r.status_code for r in different) == {201: 1, 409: 19}
    ledger = await rows(
        engine,
        "SELECT reward_id, amount FROM coin_transactions WHERE kind = 'gold_box' ORDER BY id",
    )
    assert [rid for rid, _ in ledger] == ["gb:5:1", "gb:5:2"]
    opened = [r.json()["data"] for r in (same[0], *(r for r in different if r.status_code == 201))]
    assert [(o["reward_id"], o["amount"]) for o in opened] == ledger
    await assert_balances_are_ledger_sums(engine, [5])
