"""Advertiser routes: wallet, ledger, ads and their stats, and that an
advertiser never sees or touches another advertiser's ads."""

from __future__ import annotations

from tests.api.money import (
    CPM_AD,
    charge,
    impression,
    live_ad,
    show,
)

UNIT = CPM_AD["price_micros"] // 1000


def adv(auth, user_id=50):
    return auth(user_id, ("advertiser",))


async def test_new_wallet_is_empty_and_advertiser_only(client, auth):
    """A first look creates an empty wallet; a viewer gets 403, no token 401."""
    r = await client.get("/api/advertiser/wallet", headers=adv(auth))
    data = r.json()["data"]
    assert (r.status_code, data["advertiser_id"], data["balance_micros"]) == (200, 50, 0)
    assert (data["spent_micros"], data["charged_micros"]) == (0, 0)
    r = await client.get("/api/advertiser/wallet", headers=auth(7))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    assert (await client.get("/api/advertiser/wallet")).status_code == 401


async def test_ledger_is_newest_first_and_paginated(client, admin, auth):
    """Charges and debits in the ledger, newest first, two pages of 2."""
    ad = await live_ad(client, admin, adv(auth), wallet=10 * UNIT)
    await charge(client, adv(auth), 5)
    await show(client, auth(7), ad["id"])
    first = (
        await client.get("/api/advertiser/wallet/transactions?limit=2", headers=adv(auth))
    ).json()["data"]
    assert [e["kind"] for e in first["items"]] == ["impression", "credit"]
    assert first["items"][0]["amount_micros"] == -UNIT
    assert first["items"][0]["ad_id"] == ad["id"]
    second = (
        await client.get(
            "/api/advertiser/wallet/transactions?limit=2&cursor=" + first["next_cursor"],
            headers=adv(auth),
        )
    ).json()["data"]
    assert ([e["amount_micros"] for e in second["items"]], second["next_cursor"]) == (
        [10 * UNIT],
        None,
    )


async def test_create_ad_is_pending_and_checked(client, auth):
    """A new ad is pending with nothing spent; a CPM price that is not a multiple of 1000,
    dates in the wrong order, or a budget below one event are 400 naming the field."""
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv(auth))
    data = r.json()["data"]
    assert (r.status_code, data["status"], data["spent_micros"]) == (201, "pending", 0)
    assert (data["unit_micros"], data["remaining_micros"]) == (UNIT, CPM_AD["budget_micros"])
    for fields, field in [
        ({"price_micros": 1500}, "price_micros"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
        ({"billing": "cpc", "price_micros": 500, "budget_micros": 499}, "budget_micros"),
        ({"creative_url": "ftp://x/y"}, "creative_url"),
        ({"placement": "popup"}, "placement"),
        ({"starts_at": "2030-01-02T00:00:00"}, "starts_at"),  # no offset
    ]:
        r = await client.post("/api/advertiser/ads", json={**CPM_AD, **fields}, headers=adv(auth))
        assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, field), fields
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=auth(7))
    assert r.status_code == 403


async def test_advertisers_see_only_their_own_ads(client, admin, auth):
    """Advertiser 51 gets 404 for 50's ad and its stats, and lists only their own."""
    mine = await live_ad(client, admin, adv(auth), wallet=10 * UNIT)
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv(auth, 51))
    theirs = r.json()["data"]
    for path in (f"/api/advertiser/ads/{mine['id']}", f"/api/advertiser/ads/{mine['id']}/stats"):
        r = await client.get(path, headers=adv(auth, 51))
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found"), path
        assert (await client.get(path, headers=adv(auth))).status_code == 200
    listed = (await client.get("/api/advertiser/ads", headers=adv(auth, 51))).json()["data"]
    assert [a["id"] for a in listed["items"]] == [theirs["id"]]


async def test_stats_count_billed_events_by_day(client, admin, auth):
    """Stats: counted impressions and clicks, reported impressions (counted + refused), CTR,
    spend, refusals by reason, and today's row in the daily breakdown."""
    ad = await live_ad(client, admin, adv(auth), wallet=10 * UNIT)
    tokens = [await show(client, auth(7), ad["id"]) for _ in range(3)]
    await impression(client, auth(7), ad["id"], "made-up", viewed_ms=10)  # refused
    click = {"impression_id": tokens[0]}
    await client.post(f"/api/ads/{ad['id']}/clicks", headers=auth(7), json=click)
    stats = (await client.get(f"/api/advertiser/ads/{ad['id']}/stats", headers=adv(auth))).json()[
        "data"
    ]
    assert (stats["impressions"], stats["impressions_reported"], stats["clicks"]) == (3, 4, 1)
    assert stats["ctr"] == round(1 / 3, 6)
    assert (stats["spent_micros"], stats["remaining_micros"]) == (
        3 * UNIT,
        CPM_AD["budget_micros"] - 3 * UNIT,
    )
    assert stats["refused"] == {"impression:invalid_token": 1}
    [day] = stats["days"]
    assert (day["impressions"], day["clicks"], day["spent_micros"]) == (3, 1, 3 * UNIT)
    assert (day["ctr"], day["refused"]) == (round(1 / 3, 6), 1)


async def test_text_with_nul_and_far_dates_are_400(client, auth):
    """PostgreSQL text cannot hold NUL and timestamps have bounds: such input is a 400
    naming the field, never a 500."""
    for fields, field in [
        ({"title": "a\u0000b"}, "title"),
        ({"click_url": "https://x.io/\u0000"}, "click_url"),
        ({"starts_at": "0001-01-01T00:00:00+09:00"}, "starts_at"),
    ]:
        r = await client.post("/api/advertiser/ads", json={**CPM_AD, **fields}, headers=adv(auth))
        assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, field), fields
