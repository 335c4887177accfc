"""Reward posts and admin boosts (api/reward_posts.py, api/admin/boosts.py) against real
PostgreSQL and Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

CONTENT = {"title": "Intro", "source_url": "https://youtu.be/abc", "duration_s": 120}


def iso(delta_s: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat()


async def create(client, admin, **fields):  # type: ignore[no-untyped-def]
    r = await client.post("/api/admin/contents", json={**CONTENT, **fields}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


async def posts(client, **params):  # type: ignore[no-untyped-def]
    r = await client.get("/api/rewards", params=params)
    assert r.status_code == 200, r.text
    return {p["content"]["id"]: p for p in r.json()["data"]["items"]}


async def test_a_boosted_content_shows_its_boosted_amount_and_end(client, admin, engine) -> None:  # type: ignore[no-untyped-def]
    """The post of a boosted content pays the runtime amount x the multiplier until the
    boost's end; the others pay the runtime amount at their own or the default interval."""
    plain = await create(client, admin)
    own = await create(client, admin, title="Own interval", reward_interval_ms=5000)
    boosted = await create(client, admin, title="Boosted")
    ends = iso(3600)
    r = await client.put(
        f"/api/admin/contents/{boosted}/boost",
        json={"multiplier_pct": 250, "ends_at": ends},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["multiplier_pct"] == 250
    shown = await posts(client)
    assert set(shown) == {plain, own, boosted}
    assert list(shown) == [boosted, own, plain]  # latest first, like the catalog
    assert (shown[plain]["amount"], shown[plain]["reward_interval_ms"]) == (10, 60_000)
    assert shown[plain]["boost"] is None
    assert shown[own]["reward_interval_ms"] == 5000
    b = shown[boosted]
    assert (b["base_amount"], b["amount"]) == (10, 25)
    assert b["boost"]["active"] is True and b["boost"]["multiplier_pct"] == 250
    assert datetime.fromisoformat(b["boost"]["ends_at"]) == datetime.fromisoformat(ends)
    async with engine.connect() as conn:
        audited = (
            await conn.execute(
                text("SELECT actor_id, target, after FROM audit_log WHERE action = 'content.boost'")
            )
        ).all()
    assert [(a, t, after["multiplier_pct"]) for a, t, after in audited] == [
        (1, f"content:{boosted}", 250)
    ]


async def test_a_boost_to_come_is_shown_but_not_paid_yet(client, admin) -> None:  # type: ignore[no-untyped-def]
    cid = await create(client, admin)
    r = await client.put(
        f"/api/admin/contents/{cid}/boost",
        json={"multiplier_pct": 200, "starts_at": iso(600), "ends_at": iso(1200)},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    p = (await posts(client))[cid]
    assert p["amount"] == 10 and p["boost"]["active"] is False


async def test_ending_a_boost_pays_the_plain_amount_again(client, admin, engine) -> None:  # type: ignore[no-untyped-def]
    cid = await create(client, admin)
    body = {"multiplier_pct": 200, "ends_at": iso(600)}
    assert (
        await client.put(f"/api/admin/contents/{cid}/boost", json=body, headers=admin)
    ).status_code == 200
    r = await client.delete(f"/api/admin/contents/{cid}/boost", headers=admin)
    assert r.status_code == 200 and r.json()["data"] is None
    again = await client.delete(f"/api/admin/contents/{cid}/boost", headers=admin)
    assert again.status_code == 200  # nothing to end: nothing written
    p = (await posts(client))[cid]
    assert (p["amount"], p["boost"]) == (10, None)
    async with engine.connect() as conn:
        n = (
            await conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'content.unboost'")
            )
        ).scalar()
    assert n == 1


async def test_bad_boosts_are_refused_with_the_field(client, admin, auth) -> None:  # type: ignore[no-untyped-def]
    cid = await create(client, admin)
    url = f"/api/admin/contents/{cid}/boost"
    cases = [
        {"multiplier_pct": 100, "ends_at": iso(600)},  # not a boost
        {"multiplier_pct": 1001, "ends_at": iso(600)},
        {"multiplier_pct": 150, "ends_at": iso(-10)},  # over already
        {"multiplier_pct": 150, "starts_at": iso(900), "ends_at": iso(600)},
        {"multiplier_pct": 150, "ends_at": "2030-01-01T00:00:00"},  # no offset
        {"multiplier_pct": 150, "ends_at": iso(600), "extra": 1},
    ]
    for body in cases:
        r = await client.put(url, json=body, headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_request"), body
    missing = await client.put(
        "/api/admin/contents/999999/boost",
        json={"multiplier_pct": 150, "ends_at": iso(60)},
        headers=admin,
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    viewer = await client.put(
        url, json={"multiplier_pct": 150, "ends_at": iso(60)}, headers=auth(5)
    )
    assert viewer.status_code == 403
    assert (await posts(client))[cid]["boost"] is None


async def test_nothing_pays_while_rewards_are_paused(client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(client, admin)
    r = await client.put("/api/admin/settings", json={"rewards_paused": True}, headers=admin)
    assert r.status_code == 200
    assert await posts(client) == {}
