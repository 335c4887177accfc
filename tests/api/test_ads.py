"""Ads: serving, impressions and clicks, and billing through the advertiser wallet ledger
(exactly, never below zero, also under real concurrent requests on two api processes)."""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx

from tests.api.money import (
    CPM_AD,
    FAST_ENV,
    charge,
    impression,
    ledger_is_consistent,
    live_ad,
    rows,
    scalar,
)

ADV = 50  # advertiser id
UNIT = CPM_AD["price_micros"] // 1000  # one CPM impression


def advertiser_of(auth, user_id=ADV):
    return auth(user_id, ("advertiser",))


async def served(client, viewer, placement="preroll"):
    r = await client.get(f"/api/ads?placement={placement}&content_id=3", headers=viewer)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_only_approved_funded_in_flight_ads_are_served(client, admin, auth):
    """A pending ad, an unfunded ad, another placement and an ad whose dates are over are
    not served (data null); an approved funded one is, with a fresh impression_id."""
    viewer, adv = auth(7), advertiser_of(auth)
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv)
    assert r.status_code == 201 and r.json()["data"]["status"] == "pending"
    assert await served(client, viewer) is None
    await client.post(f"/api/admin/ads/{r.json()['data']['id']}/approve", headers=admin)
    assert await served(client, viewer) is None  # wallet empty
    await charge(client, adv, 10 * UNIT)
    ad = await served(client, viewer)
    assert ad["id"] == r.json()["data"]["id"] and ad["required_view_ms"] == 5000
    assert len(ad["impression_id"]) == 32 and ad["content_id"] == 3
    assert "budget_micros" not in ad
    assert await served(client, viewer, "banner") is None
    r = await client.post(
        "/api/advertiser/ads",
        headers=advertiser_of(auth, 51),
        json={
            **CPM_AD,
            "placement": "banner",
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2020-02-01T00:00:00Z",
        },
    )
    await client.post(f"/api/admin/ads/{r.json()['data']['id']}/approve", headers=admin)
    await charge(client, advertiser_of(auth, 51), 10 * UNIT)
    assert await served(client, viewer, "banner") is None


async def test_ads_query_is_checked(client, auth):
    """A missing or unknown placement is a 400 naming it; no token is a 401."""
    r = await client.get("/api/ads", headers=auth(7))
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "placement")
    r = await client.get("/api/ads?placement=popup", headers=auth(7))
    assert r.status_code == 400
    assert (await client.get("/api/ads?placement=preroll")).status_code == 401


async def test_impression_counts_at_the_required_exposure_once(client, admin, auth, engine):
    """Below the exposure an impression is kept uncounted; the same id reported again with
    enough viewing counts and bills price/1000; a third report is a duplicate."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    r = await impression(client, viewer, ad["id"], "imp-1", viewed_ms=4999)
    assert r.json()["data"] == {
        "ad_id": ad["id"],
        "impression_id": "imp-1",
        "counted": False,
        "duplicate": False,
        "reason": "below_exposure",
        "cost_micros": 0,
        "click_url": None,
    }
    r = await impression(client, viewer, ad["id"], "imp-1", viewed_ms=5000)
    assert (r.json()["data"]["counted"], r.json()["data"]["cost_micros"]) == (True, UNIT)
    r = await impression(client, viewer, ad["id"], "imp-1", viewed_ms=9000)
    assert (r.json()["data"]["duplicate"], r.json()["data"]["cost_micros"]) == (True, 0)
    assert await ledger_is_consistent(engine, ADV) == (9 * UNIT, UNIT)
    assert await scalar(engine, "SELECT impressions FROM ads") == 1
    [(ref, kind)] = await rows(
        engine, "SELECT ref, kind FROM wallet_transactions WHERE amount_micros < 0"
    )
    assert (ref, kind) == (f"imp:{ad['id']}:imp-1", "impression")


async def test_impression_errors(client, admin, auth, engine):
    """Unknown and pending ads are 404; another viewer's impression_id is 409; a bad body
    is 400 naming the field. Only the one good impression is billed."""
    adv = advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    assert (await impression(client, auth(7), 999, "x")).status_code == 404
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv)
    pending = r.json()["data"]["id"]
    assert (await impression(client, auth(7), pending, "x")).status_code == 404
    assert (await impression(client, auth(7), ad["id"], "shared")).status_code == 200
    r = await impression(client, auth(8), ad["id"], "shared")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
    r = await client.post(
        f"/api/ads/{ad['id']}/impressions",
        headers=auth(7),
        json={"impression_id": "a b", "viewed_ms": 1},
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "impression_id")
    r = await client.post(
        f"/api/ads/{ad['id']}/impressions",
        headers=auth(7),
        json={"impression_id": "ok", "viewed_ms": -1},
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "viewed_ms")
    assert await ledger_is_consistent(engine, ADV) == (9 * UNIT, UNIT)


async def test_spent_budget_stops_billing_and_serving(client, admin, auth, engine):
    """With a budget of two impressions, the third is kept uncounted (budget_exhausted) and
    the ad is no longer served."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=100 * UNIT, budget_micros=2 * UNIT)
    reasons = [
        (await impression(client, viewer, ad["id"], f"i{i}")).json()["data"]["reason"]
        for i in range(3)
    ]
    assert reasons == [None, None, "budget_exhausted"]
    assert await served(client, viewer) is None
    assert await ledger_is_consistent(engine, ADV) == (98 * UNIT, 2 * UNIT)


async def test_empty_wallet_stops_billing_and_serving(client, admin, auth, engine):
    """With a wallet of one impression, the second is kept uncounted (wallet_empty), the
    wallet stays at zero, and the ad is not served until the next charge."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=UNIT)
    reasons = [
        (await impression(client, viewer, ad["id"], f"i{i}")).json()["data"]["reason"]
        for i in range(2)
    ]
    assert reasons == [None, "wallet_empty"]
    assert await served(client, viewer) is None
    assert await ledger_is_consistent(engine, ADV) == (0, UNIT)
    await charge(client, adv, UNIT)
    assert (await served(client, viewer))["id"] == ad["id"]


async def test_rejected_ad_stops_counting(client, admin, auth, engine):
    """After an admin rejects a live ad, its impressions are kept but not counted, and
    nothing is billed: the wallet holds its whole charge."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    await client.post(f"/api/admin/ads/{ad['id']}/reject", headers=admin, json={"reason": "x"})
    r = await impression(client, viewer, ad["id"], "late")
    assert r.json()["data"]["reason"] == "not_in_flight"
    assert await served(client, viewer) is None
    assert await ledger_is_consistent(engine, ADV) == (10 * UNIT, 0)


async def test_cpc_clicks_bill_once_per_impression(client, admin, auth, engine):
    """A CPC click needs the viewer's own impression, bills price_micros once, returns the
    click_url; a repeated click is a duplicate; CPC impressions cost nothing."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=1_000_000, billing="cpc", price_micros=300_000)
    click = {"impression_id": "i1"}
    r = await client.post(f"/api/ads/{ad['id']}/clicks", headers=viewer, json=click)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    r = await impression(client, viewer, ad["id"], "i1")
    assert (r.json()["data"]["counted"], r.json()["data"]["cost_micros"]) == (True, 0)
    r = await client.post(f"/api/ads/{ad['id']}/clicks", headers=auth(8), json=click)
    assert r.status_code == 404  # not this viewer's impression
    r = await client.post(f"/api/ads/{ad['id']}/clicks", headers=viewer, json=click)
    data = r.json()["data"]
    assert (data["counted"], data["cost_micros"]) == (True, 300_000)
    assert data["click_url"] == CPM_AD["click_url"]
    r = await client.post(f"/api/ads/{ad['id']}/clicks", headers=viewer, json=click)
    assert (r.json()["data"]["duplicate"], r.json()["data"]["cost_micros"]) == (True, 0)
    assert await ledger_is_consistent(engine, ADV) == (700_000, 300_000)
    assert await scalar(engine, "SELECT clicks FROM ads") == 1


async def test_cpm_clicks_are_counted_not_billed(client, admin, auth, engine):
    """A click on a CPM ad counts (for CTR) and costs nothing."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    await impression(client, viewer, ad["id"], "i1")
    r = await client.post(
        f"/api/ads/{ad['id']}/clicks", headers=viewer, json={"impression_id": "i1"}
    )
    assert (r.json()["data"]["counted"], r.json()["data"]["cost_micros"]) == (True, 0)
    assert await ledger_is_consistent(engine, ADV) == (9 * UNIT, UNIT)


async def _burst(urls, ad_id, viewers, ids):
    async with httpx.AsyncClient(timeout=30) as http:
        return await asyncio.gather(
            *(
                impression(http, viewers[i % len(viewers)], ad_id, imp, base=urls[i % len(urls)])
                for i, imp in enumerate(ids)
            )
        )


async def test_concurrent_impressions_never_overdraw_the_wallet(spawn, token, engine):
    """60 concurrent counted impressions on two api processes against a wallet of 7: exactly
    7 are billed, the wallet ends at zero, never below, and debits == the ledger == spent."""
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    adv = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        ad = await live_ad(http, admin, adv, wallet=7 * UNIT, base=a.url)
    viewers = [{"Authorization": f"Bearer {token(100 + i)}"} for i in range(6)]
    answers = await _burst([a.url, b.url], ad["id"], viewers, [uuid.uuid4().hex for _ in range(60)])
    assert {r.status_code for r in answers} == {200}
    reasons = collections.Counter(r.json()["data"]["reason"] for r in answers)
    assert reasons == {None: 7, "wallet_empty": 53}, reasons
    assert await ledger_is_consistent(engine, ADV) == (0, 7 * UNIT)
    assert await scalar(engine, "SELECT impressions FROM ads") == 7
    assert await scalar(engine, "SELECT count(*) FROM ad_impressions WHERE counted") == 7


async def test_concurrent_impressions_never_overspend_the_budget(spawn, token, engine):
    """40 concurrent impressions against a budget of 5 (wallet plenty): exactly 5 billed."""
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    adv = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        ad = await live_ad(http, admin, adv, wallet=100 * UNIT, budget_micros=5 * UNIT, base=a.url)
    viewers = [{"Authorization": f"Bearer {token(100 + i)}"} for i in range(4)]
    answers = await _burst([a.url, b.url], ad["id"], viewers, [uuid.uuid4().hex for _ in range(40)])
    reasons = collections.Counter(r.json()["data"]["reason"] for r in answers)
    assert reasons == {None: 5, "budget_exhausted": 35}, reasons
    assert await ledger_is_consistent(engine, ADV) == (95 * UNIT, 5 * UNIT)


async def test_concurrent_reports_of_one_impression_bill_it_once(spawn, token, engine):
    """30 concurrent reports of the same impression_id: one counted, the rest duplicates."""
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    adv = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        ad = await live_ad(http, admin, adv, wallet=100 * UNIT, base=a.url)
    viewer = [{"Authorization": f"Bearer {token(100)}"}]
    answers = await _burst([a.url, b.url], ad["id"], viewer, ["same"] * 30)
    flags = collections.Counter(
        (r.json()["data"]["counted"], r.json()["data"]["duplicate"]) for r in answers
    )
    assert flags == {(True, False): 1, (True, True): 29}, flags
    assert await ledger_is_consistent(engine, ADV) == (99 * UNIT, UNIT)
