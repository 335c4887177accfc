"""Admin multi-account review: the queue of flagged accounts with their held coins, approve
(held coins paid once, hold lifted, cached balance refreshed), reject (held coins void, hold
kept), audit entries, and the held coins staying out of boxes."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from live.keys import UserKeys
from tests.api.money import grant_watch_rewards, rows, scalar

_n = {"next": 1000}


async def flagged(
    engine: Any,
    redis: Any,
    settings: Any,
    uid: int,
    held: int = 3,
    key: str = "tv-1",
    reason: str = "device",
    balance: int = 0,
) -> None:
    """User `uid` as the drain leaves it after a flag and `held` held grants: review_hold,
    an open review, held ledger rows; and on hold in Redis."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, balance, review_hold) OVERRIDING SYSTEM VALUE"
                " VALUES (:u, :b, true) ON CONFLICT (id) DO UPDATE SET review_hold = true"
            ),
            {"u": uid, "b": balance},
        )
        _n["next"] += 1
        await conn.execute(
            text(
                "INSERT INTO account_reviews (flag_id, user_id, reason, key, accounts)"
                " VALUES (:f, :u, :r, :k, 4)"
            ),
            {"f": f"f:{uid}:{_n['next']}", "u": uid, "r": reason, "k": key},
        )
        for _ in range(held):
            _n["next"] += 1
            await conn.execute(
                text(
                    "INSERT INTO coin_transactions (user_id, kind, amount, reward_id, content_id,"
                    " status) VALUES (:u, 'watch', 10, :r, 1, 'held')"
                ),
                {"u": uid, "r": f"w:{uid}:1:{_n['next']}"},
            )
    await redis.hset(UserKeys(uid, settings.redis_partitions).balance, "hold", 1)


async def audit_of(engine: Any, action: str) -> list[Any]:
    return await rows(
        engine,
        "SELECT actor_id, target, before, after FROM audit_log WHERE action = :a ORDER BY id",
        a=action,
    )


async def test_open_reviews_list_oldest_first_with_held_coins(
    client, admin, engine, redis, settings
):
    """The queue shows each flagged account with its reason, key, accounts, the coins held
    now and the users flagged on the same key; pages by cursor; filters by status and user."""
    await flagged(engine, redis, settings, 5, held=3)
    await flagged(engine, redis, settings, 6, held=1)
    await flagged(engine, redis, settings, 7, held=0, reason="ip", key="10.0.0.9")
    r = await client.get("/api/admin/reviews?limit=2", headers=admin)
    assert r.status_code == 200, r.text
    page = r.json()["data"]
    first = page["items"][0]
    assert {
        k: first[k]
        for k in (
            "user_id",
            "reason",
            "key",
            "accounts",
            "status",
            "on_hold",
            "held_grants",
            "held_coins",
            "flagged_with",
            "decided_by",
        )
    } == {
        "user_id": 5,
        "reason": "device",
        "key": "tv-1",
        "accounts": 4,
        "status": "open",
        "on_hold": True,
        "held_grants": 3,
        "held_coins": 30,
        "flagged_with": [5, 6],
        "decided_by": None,
    }
    assert first["created_at"].endswith("+09:00")
    assert [i["user_id"] for i in page["items"]] == [5, 6] and page["next_cursor"]
    more = (
        await client.get(f"/api/admin/reviews?limit=2&cursor={page['next_cursor']}", headers=admin)
    ).json()["data"]
    assert [(i["user_id"], i["held_coins"], i["flagged_with"]) for i in more["items"]] == [
        (7, 0, [7])
    ]
    assert more["next_cursor"] is None
    only = (await client.get("/api/admin/reviews?user_id=6", headers=admin)).json()["data"]
    assert [i["user_id"] for i in only["items"]] == [6]
    done = (await client.get("/api/admin/reviews?status=approved", headers=admin)).json()
    assert done["data"]["items"] == []


async def test_approve_pays_the_held_coins_once_and_lifts_the_hold(
    client, admin, engine, redis, settings
):
    """Approve: held rows become paid, the balance and its version grow by them, the review
    is closed with who and when, the Redis hold is lifted (with an exemption) and the cached
    balance refreshed, one audit entry. Approving again changes and audits nothing."""
    await flagged(engine, redis, settings, 5, held=3, balance=40)
    r = await client.post("/api/admin/users/5/review/approve", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {
        "user_id": 5,
        "decision": "approved",
        "reviews": 1,
        "grants": 3,
        "coins": 30,
        "balance": 70,
        "on_hold": False,
    }
    assert await rows(
        engine, "SELECT balance, balance_version, review_hold FROM users WHERE id = 5"
    ) == [(70, 1, False)]
    assert await rows(engine, "SELECT DISTINCT status FROM coin_transactions") == [("paid",)]
    [(status, by, at)] = await rows(
        engine, "SELECT status, decided_by, decided_at IS NOT NULL FROM account_reviews"
    )
    assert (status, by, at) == ("approved", 1, True)
    bal = await redis.hgetall(UserKeys(5, settings.redis_partitions).balance)
    assert (bal[b"hold"], bal[b"pg"], bal[b"v"]) == (b"0", b"70", b"1")
    assert int(bal[b"rvok"]) > 0
    [(actor, target, before, after)] = await audit_of(engine, "review.approve")
    assert (actor, target) == (1, "user:5")
    assert before["held_coins"] == 30 and before["on_hold"] is True
    assert after == {"on_hold": False, "grants": 3, "coins": 30, "balance": 70}
    again = await client.post("/api/admin/users/5/review/approve", headers=admin)
    assert again.json()["data"]["coins"] == 0 and again.json()["data"]["balance"] == 70
    assert len(await audit_of(engine, "review.approve")) == 1
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 70


async def test_concurrent_approvals_pay_once(client, admin, engine, redis, settings):
    """Ten approvals of one user at once: the held coins are paid exactly once."""
    await flagged(engine, redis, settings, 8, held=4)
    answers = await asyncio.gather(
        *(client.post("/api/admin/users/8/review/approve", headers=admin) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["data"]["coins"] for a in answers) == [0] * 9 + [40]
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 8") == 40
    assert await scalar(engine, "SELECT count(*) FROM audit_log") == 1


async def test_reject_voids_the_held_coins_and_keeps_the_hold(
    client, admin, engine, redis, settings
):
    """Reject: held rows become void (never paid, their reward ids stay used), the review is
    rejected, the account stays on hold. Coins held later can still be approved: only those
    are paid."""
    await flagged(engine, redis, settings, 5, held=2, balance=40)
    r = await client.post("/api/admin/users/5/review/reject", headers=admin)
    assert r.json()["data"] == {
        "user_id": 5,
        "decision": "rejected",
        "reviews": 1,
        "grants": 2,
        "coins": 20,
        "balance": 40,
        "on_hold": True,
    }
    assert await rows(engine, "SELECT DISTINCT status FROM coin_transactions") == [("void",)]
    assert await rows(engine, "SELECT balance, review_hold FROM users WHERE id = 5") == [(40, True)]
    assert await redis.hget(UserKeys(5, settings.redis_partitions).balance, "hold") == b"1"
    rejected = (await client.get("/api/admin/reviews?status=rejected", headers=admin)).json()
    assert [i["user_id"] for i in rejected["data"]["items"]] == [5]
    assert len(await audit_of(engine, "review.reject")) == 1
    # Still on hold: a later held grant, then an approval pays that one only.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO coin_transactions (user_id, kind, amount, reward_id, status)"
                " VALUES (5, 'watch', 10, 'w:5:1:99', 'held')"
            )
        )
    r = await client.post("/api/admin/users/5/review/approve", headers=admin)
    assert (r.json()["data"]["coins"], r.json()["data"]["balance"]) == (10, 50)
    assert await rows(
        engine, "SELECT status, count(*) FROM coin_transactions GROUP BY 1 ORDER BY 1"
    ) == [("paid", 1), ("void", 2)]


async def test_decisions_need_an_admin_and_a_flagged_user(
    client, admin, auth, engine, redis, settings
):
    """A user never flagged (or unknown) is 404; a viewer is 403; a bad status filter 400."""
    await grant_watch_rewards(engine, 9, 1)
    for path in ("/api/admin/users/9/review/approve", "/api/admin/users/999/review/reject"):
        r = await client.post(path, headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    await flagged(engine, redis, settings, 5)
    r = await client.post("/api/admin/users/5/review/approve", headers=auth(5))
    assert r.status_code == 403
    assert (await client.get("/api/admin/reviews", headers=auth(5))).status_code == 403
    assert (await client.get("/api/admin/reviews?status=maybe", headers=admin)).status_code == 400
    assert await scalar(engine, "SELECT count(*) FROM coin_transactions WHERE status = 'held'") == 3


async def test_a_decision_whose_redis_step_failed_is_finished_by_repeating_it(
    client, api_app, admin, engine, redis, settings
):
    """Redis down after the commit: 503 (the coins are paid in PostgreSQL already); the same
    approval repeated once Redis is back lifts the live hold and pays nothing twice."""
    from redis.asyncio import Redis

    from devkit.servers import free_port

    await flagged(engine, redis, settings, 5, held=2)
    await client.get("/api/admin/reviews", headers=admin)  # the admin's row, while Redis is up
    live = api_app.state.redis
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    api_app.state.redis = dead
    try:
        r = await client.post("/api/admin/users/5/review/approve", headers=admin)
    finally:
        api_app.state.redis = live
        await dead.aclose()
    assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 20
    assert await redis.hget(UserKeys(5, settings.redis_partitions).balance, "hold") == b"1"
    r = await client.post("/api/admin/users/5/review/approve", headers=admin)
    assert r.status_code == 200 and r.json()["data"]["coins"] == 0
    assert await redis.hget(UserKeys(5, settings.redis_partitions).balance, "hold") == b"0"
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 20


async def test_held_and_void_grants_earn_no_box_and_show_in_the_ledger(
    client, auth, engine, redis, settings
):
    """Boxes count paid watch rewards only; the caller's ledger lists held rows with their
    status."""
    await grant_watch_rewards(engine, 5, 10)
    await flagged(engine, redis, settings, 5, held=10)
    status = (await client.get("/api/boxes", headers=auth(5))).json()["data"]
    assert (status["watch_rewards"], status["earned"]) == (10, 1)
    items = (await client.get("/api/coin-transactions?limit=100", headers=auth(5))).json()["data"][
        "items"
    ]
    assert sorted({i["status"] for i in items}) == ["held", "paid"]
    assert sum(1 for i in items if i["status"] == "held") == 10


async def test_a_held_viewer_sees_that_rewards_wait_for_review(
    client, admin, auth, engine, redis, settings
):
    """While on hold, the viewer's balance says so (on_review, the held coins, the notice)
    without naming the rule or a threshold; after the approval it shows the coins paid and
    no notice."""
    await flagged(engine, redis, settings, 5, held=3, balance=40)
    data = (await client.get("/api/me/balance", headers=auth(5))).json()["data"]
    assert (data["balance"], data["on_review"], data["held"]) == (40, True, 30)
    assert "check" in data["notice"] and not any(c.isdigit() for c in data["notice"])
    assert "device" not in data["notice"] and "address" not in data["notice"]
    await client.post("/api/admin/users/5/review/approve", headers=admin)
    data = (await client.get("/api/me/balance", headers=auth(5))).json()["data"]
    assert data == {"balance": 70, "pending": 0}  # the ordinary answer, nothing more
