"""Missions: progress measured from the server's own events in the current window, claims
paid once per user and window (real concurrent clients on two api processes), join-first,
gold box rewards, and the admin's CRUD, pause and figures."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from tests.api.money import FAST_ENV, grant_watch_rewards, rows, scalar, upload_table
from tests.support.conservation import assert_balances_are_ledger_sums

MIN = 60_000


async def activity(engine, user, event_id, ms=MIN, content=None, kind="watch", at=None):
    """One progress event as the drain (watch) or the box open (box) writes it."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id) OVERRIDING SYSTEM VALUE VALUES (:u) ON CONFLICT DO NOTHING"
            ),
            {"u": user},
        )
        await conn.execute(
            text(
                "INSERT INTO mission_activity (event_id, user_id, kind, content_id, amount, at)"
                " VALUES (:e, :u, :k, :c, :a, coalesce(CAST(:at AS timestamptz), now()))"
            ),
            {"e": event_id, "u": user, "k": kind, "c": content, "a": ms, "at": at},
        )


async def content(engine, tags=()):
    async with engine.begin() as conn:
        return (
            await conn.execute(
                text(
                    "INSERT INTO contents (title, source_url, duration_s, tags)"
                    " VALUES ('c', 'https://v.example/c', 60, :t) RETURNING id"
                ),
                {"t": list(tags)},
            )
        ).scalar_one()


async def mission(client, admin, **fields):
    body = {
        "title": "Watch 5 minutes",
        "kind": "watch_minutes",
        "target": 5,
        "period": "daily",
        "reward_kind": "coins",
        "reward_amount": 30,
        **fields,
    }
    r = await client.post("/api/admin/missions", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def task(client, auth, user, mission_id):
    r = await client.get("/api/tasks", headers=auth(user))
    assert r.status_code == 200, r.text
    found = [t for t in r.json()["data"] if t["mission"]["id"] == mission_id]
    return found[0] if found else None


def today_key():
    return "d:" + datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()


async def test_watch_minutes_claim_pays_once_per_window(client, admin, auth, engine):
    """4 of 5 minutes: 409 not_complete; at 6: one `mission` ledger row with reward id
    m:<mission>:<user>:d:<today>, the balance follows; a second claim is 409 already_claimed;
    the figures count it and the log has the completion and the claim."""
    m = await mission(client, admin)
    await activity(engine, 5, "s:a", 4 * MIN)
    t = await task(client, auth, 5, m["id"])
    assert (t["progress"], t["complete"], t["window_key"]) == (4, False, today_key())
    r = await client.post(f"/api/tasks/{m['id']}/claim", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_complete")
    assert r.json()["error"]["details"]["progress"] == 4
    await activity(engine, 5, "s:b", 2 * MIN + 500)
    r = await client.post(f"/api/tasks/{m['id']}/claim", headers=auth(5))
    assert r.status_code == 201, r.text
    rid = f"m:{m['id']}:5:{today_key()}"
    assert (r.json()["data"]["reward_id"], r.json()["data"]["balance"]) == (rid, 30)
    again = await client.post(f"/api/tasks/{m['id']}/claim", headers=auth(5))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_claimed")
    assert await rows(
        engine, "SELECT kind, amount, reward_id FROM coin_transactions WHERE user_id = 5"
    ) == [("mission", 30, rid)]
    t = await task(client, auth, 5, m["id"])
    assert (t["progress"], t["complete"], t["claimed"]) == (6, True, True)
    figures = (await client.get(f"/api/admin/missions/{m['id']}", headers=admin)).json()["data"]
    assert figures["figures"] == {"joined": 0, "completed": 1, "paid": 1}
    types = await rows(engine, "SELECT type FROM user_events WHERE user_id = 5 ORDER BY id")
    assert [t for (t,) in types] == ["mission_complete", "mission_claim"]
    await assert_balances_are_ledger_sums(engine, [5])


async def test_each_kind_measures_its_own_events(client, admin, auth, engine):
    """Minutes of one content, minutes of a tag, distinct contents, boxes opened (real opens)
    and consecutive local days each count only what they name."""
    c1, c2 = await content(engine, ["drama"]), await content(engine, ["news"])
    of_content = await mission(client, admin, kind="watch_content_minutes", content_id=c1)
    of_tag = await mission(client, admin, kind="watch_tag_minutes", tag="news")
    distinct = await mission(client, admin, kind="watch_contents", target=2)
    boxes = await mission(client, admin, kind="open_boxes", target=2)
    now = datetime.now(UTC)
    streak = await mission(
        client,
        admin,
        kind="watch_streak_days",
        target=3,
        period="range",
        starts_at=(now - timedelta(days=10)).isoformat(),
        ends_at=(now + timedelta(days=1)).isoformat(),
    )
    await activity(engine, 5, "s:1", 3 * MIN, c1)
    await activity(engine, 5, "s:2", 7 * MIN, c2)
    await activity(engine, 5, "s:3", MIN, c1)
    for days in (1, 2, 3, 6):
        await activity(engine, 5, f"s:old{days}", MIN, c1, at=now - timedelta(days=days))
    await grant_watch_rewards(engine, 5, 10)
    await upload_table(client, admin, "1,1\n")
    assert (await client.post("/api/boxes/open", headers=auth(5))).status_code == 201
    progress = {
        m["id"]: (await task(client, auth, 5, m["id"]))["progress"]
        for m in (of_content, of_tag, distinct, boxes, streak)
    }
    assert progress == {
        of_content["id"]: 4,  # today's 3 + 1 minutes of c1
        of_tag["id"]: 7,
        distinct["id"]: 2,
        boxes["id"]: 1,
        streak["id"]: 4,  # 3, 2 and 1 days ago, and today
    }


async def test_join_first_counts_from_the_join(client, admin, auth, engine):
    """A join-first mission shows no progress before the join and refuses the claim
    (reason not_joined); after the join only later events count; joining twice is the same."""
    m = await mission(client, admin, target=1, join_required=True)
    await activity(engine, 5, "s:before", 3 * MIN, at=datetime.now(UTC) - timedelta(seconds=1))
    t = await task(client, auth, 5, m["id"])
    assert (t["joined"], t["progress"]) == (False, 0)
    r = await client.post(f"/api/tasks/{m['id']}/claim", headers=auth(5))
    assert r.json()["error"]["details"]["reason"] == "not_joined"
    for _ in range(2):
        r = await client.post(f"/api/tasks/{m['id']}/join", headers=auth(5))
        assert r.status_code == 200 and r.json()["data"]["joined"] is True
        assert r.json()["data"]["progress"] == 0
    await activity(engine, 5, "s:after", MIN, at=datetime.now(UTC) + timedelta(seconds=1))
    assert (await task(client, auth, 5, m["id"]))["progress"] == 1
    assert (await client.post(f"/api/tasks/{m['id']}/claim", headers=auth(5))).status_code == 201
    assert await scalar(engine, "SELECT count(*) FROM user_events WHERE type = 'mission_join'") == 1


async def test_gold_box_reward_grants_gold_boxes(client, admin, auth, engine):
    """A mission paying 2 gold boxes grants two (no coins); the gold box status shows them."""
    m = await mission(client, admin, target=1, reward_kind="gold_box", reward_amount=2)
    await activity(engine, 5, "s:a", MIN)
    r = await client.post(f"/api/tasks/{m['id']}/claim", headers=auth(5))
    assert r.status_code == 201 and r.json()["data"]["balance"] is None
    status = (await client.get("/api/gold-box", headers=auth(5))).json()["data"]
    assert status["earned"] == 2
    assert await scalar(engine, "SELECT count(*) FROM coin_transactions") == 0


async def test_paused_and_deleted_missions_are_closed(client, admin, auth, engine):
    """Paused (PUT status paused): not listed, join and claim 404; deleted: admin 404 too;
    both changes are audited."""
    m = await mission(client, admin, target=1)
    body = {k: m["mission"][k] for k in ("title", "kind", "target", "period", "reward_kind")}
    r = await client.put(
        f"/api/admin/missions/{m['id']}",
        json={**body, "reward_amount": 30, "status": "paused"},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["data"]["mission"]["status"] == "paused"
    assert await task(client, auth, 5, m["id"]) is None
    for action in ("join", "claim"):
        r = await client.post(f"/api/tasks/{m['id']}/{action}", headers=auth(5))
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    assert (await client.delete(f"/api/admin/missions/{m['id']}", headers=admin)).status_code == 200
    assert (await client.get(f"/api/admin/missions/{m['id']}", headers=admin)).status_code == 404
    listed = (await client.get("/api/admin/missions", headers=admin)).json()["data"]["items"]
    assert listed == []
    actions = await rows(engine, "SELECT action FROM audit_log ORDER BY id")
    assert [a for (a,) in actions] == ["mission.create", "mission.update", "mission.delete"]


async def test_bad_mission_bodies_and_authorization(client, admin, auth):
    """Bodies that do not fit their kind or period are 400 naming the field; a viewer is 403
    on the admin routes; no token is 401 on the task routes."""
    base = {
        "title": "t",
        "kind": "watch_minutes",
        "target": 1,
        "period": "daily",
        "reward_kind": "coins",
        "reward_amount": 1,
    }
    for change, field in (
        ({"kind": "watch_content_minutes"}, "content_id"),
        ({"kind": "watch_content_minutes", "content_id": 999}, "content_id"),
        ({"tag": "x"}, "tag"),
        ({"period": "range"}, "ends_at"),
        ({"target": 0}, "target"),
    ):
        r = await client.post("/api/admin/missions", json={**base, **change}, headers=admin)
        assert r.status_code == 400, change
        assert field in r.text, (change, r.text)
    r = await client.post("/api/admin/missions", json=base, headers=auth(5))
    assert r.status_code == 403
    assert (await client.get("/api/tasks")).status_code == 401
    assert (await client.post("/api/tasks/1/claim")).status_code == 401


async def test_concurrent_claims_pay_once(client, admin, engine, spawn, token):
    """30 concurrent claims of one complete mission on two api processes: one 201, the rest
    409 already_claimed, one ledger row, the balance its amount."""
    m = await mission(client, admin, target=1)
    await activity(engine, 5, "s:a", MIN)
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    user = {"Authorization": f"Bearer {token(5)}"}
    urls = [a.url, b.url]
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{urls[i % 2]}/api/tasks/{m['id']}/claim", headers=user)
                for i in range(30)
            )
        )
    assert collections.Counter(r.status_code for r in answers) == {201: 1, 409: 29}
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {
        "already_claimed"
    }
    assert (
        await scalar(engine, "SELECT count(*) FROM coin_transactions WHERE kind = 'mission'") == 1
    )
    assert await scalar(engine, "SELECT balance FROM users WHERE id = 5") == 30
    await assert_balances_are_ledger_sums(engine, [5])
