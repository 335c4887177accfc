"""The user event log and the watch events behind mission progress: the drain writes them
from the outbox exactly once (a replayed outbox leaves progress and the log unchanged), the
api writes its events with the action, admins query them, and the retention job prunes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from live import keys
from live.outbox import GrantEntry, SessionEndEntry, SessionStartEntry, stream_fields
from tests.api.money import impression, live_ad, rows, scalar, served_token
from tests.api.test_auth import login, register
from tests.support.waiting import wait_until

PARTITIONS = 16  # the worker fixture's REDIS_PARTITIONS
USER, CONTENT = 7, 3


def _entries(session_no):
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    sid = f"sess-{session_no}"
    return [
        SessionStartEntry(sid=sid, uid=USER, cid=CONTENT, dev="d", tab="t", ts=now_ms - 200_000),
        GrantEntry(
            rid=f"w:{USER}:{CONTENT}:{session_no}", uid=USER, cid=CONTENT, amt=10, ts=now_ms
        ),
        SessionEndEntry(sid=sid, uid=USER, cid=CONTENT, wms=180_000, ts=now_ms, why="stop"),
    ]


async def _append(redis, entries):
    stream = keys.outbox(keys.partition_of(USER, PARTITIONS))
    for e in entries:
        await redis.xadd(stream, stream_fields(e))


async def _drained(redis):
    return await redis.xlen(keys.outbox(keys.partition_of(USER, PARTITIONS))) == 0


async def _progress(client, auth, mission_id):
    tasks = (await client.get("/api/tasks", headers=auth(USER))).json()["data"]
    return next(t["progress"] for t in tasks if t["mission"]["id"] == mission_id)


async def _log(engine):
    found = await rows(
        engine,
        "SELECT type, data->>'session_id' FROM user_events WHERE user_id = :u ORDER BY id",
        u=USER,
    )
    return sorted((t, s) for t, s in found)


async def test_a_replayed_outbox_changes_neither_progress_nor_the_log(
    client, admin, auth, engine, redis, worker
):
    """A session's 3 credited minutes count once toward a minutes mission and log start,
    reward and end once; the same entries appended again and drained change nothing."""
    r = await client.post(
        "/api/admin/missions",
        json={
            "title": "Watch 10 minutes",
            "kind": "watch_minutes",
            "target": 10,
            "period": "daily",
            "reward_kind": "coins",
            "reward_amount": 5,
        },
        headers=admin,
    )
    mission_id = r.json()["data"]["id"]
    worker()
    entries = _entries(1)
    await _append(redis, entries)
    await wait_until(
        lambda: scalar(engine, "SELECT count(*) FROM mission_activity"), 60, "the session's row"
    )
    await wait_until(lambda: _drained(redis), 60, "the outbox drained")
    assert await _progress(client, auth, mission_id) == 3
    log = await _log(engine)
    assert log == [("reward", None), ("session_end", "sess-1"), ("session_start", "sess-1")]
    await _append(redis, entries)  # the replay: the same entries once more
    await wait_until(lambda: _drained(redis), 60, "the replay drained")
    assert await _progress(client, auth, mission_id) == 3
    assert await _log(engine) == log
    assert await rows(engine, "SELECT event_id, amount FROM mission_activity") == [
        ("s:sess-1", 180_000)
    ]
    assert await scalar(engine, "SELECT count(*) FROM coin_transactions") == 1


async def test_api_actions_log_their_events_and_admins_query_them(client, admin, auth, engine):
    """A login and a block write their events with the action; the admin query filters by
    user, type and time and pages; a viewer is 403; a time without offset is 400."""
    account = (await register(client)).json()["data"]
    assert (await login(client)).status_code == 200
    uid = account["id"]
    r = await client.post(f"/api/admin/users/{uid}/block", json={"reason": "spam"}, headers=admin)
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/admin/user-events?user_id={uid}", headers=admin)
    assert [e["type"] for e in r.json()["data"]["items"]] == ["block", "login"]
    first = (
        await client.get(f"/api/admin/user-events?user_id={uid}&limit=1", headers=admin)
    ).json()["data"]
    assert [e["type"] for e in first["items"]] == ["block"] and first["next_cursor"]
    second = await client.get(
        f"/api/admin/user-events?user_id={uid}&limit=1&cursor={first['next_cursor']}",
        headers=admin,
    )
    assert [e["type"] for e in second.json()["data"]["items"]] == ["login"]
    r = await client.get("/api/admin/user-events?type=login", headers=admin)
    assert [e["user_id"] for e in r.json()["data"]["items"]] == [uid]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    r = await client.get(f"/api/admin/user-events?since={later}", headers=admin)
    assert r.json()["data"]["items"] == []
    r = await client.get("/api/admin/user-events?since=2026-01-01T00:00:00", headers=admin)
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "since")
    assert (await client.get("/api/admin/user-events", headers=auth(5))).status_code == 403


async def test_ad_impressions_and_clicks_are_logged_once(client, admin, auth, engine):
    """An impression is logged once it counts (not before its exposure has passed, not
    again when reported again); its click once."""
    viewer = auth(USER)
    ad = await live_ad(
        client, admin, auth(50, ("advertiser",)), wallet=10_000_000, required_view_ms=200
    )
    token = await served_token(client, viewer, ad["id"])
    r = await impression(client, viewer, ad["id"], token, viewed_ms=10)
    assert r.json()["data"]["reason"] == "too_early", r.text
    await asyncio.sleep(0.25)  # the exposure passes on the server's clock
    for viewed_ms in (5000, 9000):
        r = await impression(client, viewer, ad["id"], token, viewed_ms=viewed_ms)
        assert r.status_code == 200, r.text
    for _ in range(2):
        r = await client.post(
            f"/api/ads/{ad['id']}/clicks", json={"impression_id": token}, headers=viewer
        )
        assert r.status_code == 200, r.text
    logged = await rows(
        engine, "SELECT type, data->>'impression_id' FROM user_events WHERE user_id = :u", u=USER
    )
    assert sorted(logged) == [("ad_click", token), ("ad_impression", token)]
