"""Ads: serving, impressions and clicks, and billing through the advertiser wallet ledger
(exactly, never below zero, also under real concurrent requests on two api processes)."""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx

from api import ad_tokens
from tests.api.money import (
    CPM_AD,
    FAST_ENV,
    charge,
    impression,
    ledger_is_consistent,
    live_ad,
    rows,
    scalar,
    served_token,
)
from tests.conftest import TEST_JWT_SECRET

ADV = 50  # advertiser id
UNIT = CPM_AD["price_micros"] // 1000  # one CPM impression
JWT = TEST_JWT_SECRET


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
    assert ad["id"] == r.json()["data"]["id"] and ad["required_view_ms"] == 0
    assert ad["impression_id"].startswith("t1.") and ad["content_id"] == 3
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


async def test_impression_counts_after_the_exposure_on_the_servers_clock_once(
    client, admin, auth, engine
):
    """A served token reported before the ad's exposure has passed since serving is refused
    (too_early) whatever viewed_ms claims; reported again after it, it counts and bills
    price/1000 once; a third report is a duplicate that bills nothing."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT, required_view_ms=400)
    token = await served_token(client, viewer, ad["id"], content_id=3)
    r = await impression(client, viewer, ad["id"], token, viewed_ms=86_400_000)
    assert r.json()["data"] == {
        "ad_id": ad["id"],
        "impression_id": token,
        "counted": False,
        "duplicate": False,
        "reason": "too_early",
        "cost_micros": 0,
        "click_url": None,
    }
    await asyncio.sleep(0.45)  # the exposure passes (the server's clock decides)
    r = await impression(client, viewer, ad["id"], token, viewed_ms=5000)
    assert (r.json()["data"]["counted"], r.json()["data"]["cost_micros"]) == (True, UNIT)
    r = await impression(client, viewer, ad["id"], token, viewed_ms=9000)
    assert (r.json()["data"]["duplicate"], r.json()["data"]["cost_micros"]) == (True, 0)
    assert await ledger_is_consistent(engine, ADV) == (9 * UNIT, UNIT)
    assert await scalar(engine, "SELECT impressions FROM ads") == 1
    nonce = ad_tokens.read(ad_tokens.token_key(JWT), token).nonce
    [(ref, kind)] = await rows(
        engine, "SELECT ref, kind FROM wallet_transactions WHERE amount_micros < 0"
    )
    assert (ref, kind) == (f"imp:{ad['id']}:{nonce}", "impression")
    [(content, viewed)] = await rows(engine, "SELECT content_id, viewed_ms FROM ad_impressions")
    assert content == 3 and 400 <= viewed <= 5000  # what the server saw pass, not 86_400_000
    stats = (await client.get(f"/api/advertiser/ads/{ad['id']}/stats", headers=adv)).json()
    assert stats["data"]["refused"] == {"impression:too_early": 1, "impression:duplicate": 1}


async def test_tokens_that_were_not_served_to_this_viewer_bill_nothing(
    client, admin, auth, engine, api_app
):
    """Made-up ids, an altered token, another viewer's token, another ad's token, another
    content, a token signed with another key and an expired one: all refused by reason, and
    counted in the ad's stats and the metric; only the genuine report is billed."""
    adv = advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    other = await live_ad(
        client, admin, advertiser_of(auth, 51), wallet=10 * UNIT, placement="banner"
    )
    token = await served_token(client, auth(7), ad["id"], content_id=3)
    banner = await served_token(client, auth(7), other["id"], placement="banner")
    claims = ad_tokens.read(ad_tokens.token_key(JWT), token)
    old = ad_tokens.issue(
        ad_tokens.token_key(JWT), claims._replace(served_ms=claims.served_ms - 1801_000)
    )
    cases = {
        "made-up": (auth(7), uuid.uuid4().hex, None),
        "altered": (auth(7), token.replace(".7.", ".8.", 1), None),
        "another viewer": (auth(8), token, None),
        "another ad": (auth(7), banner, None),
        "another content": (auth(7), token, 4),
        "another key": (auth(7), ad_tokens.issue(ad_tokens.token_key("x" * 40), claims), None),
        "expired": (auth(7), old, None),
    }
    reasons = {}
    for name, (who, imp, content) in cases.items():
        body = {"impression_id": imp, "viewed_ms": 5000}
        if content:
            body["content_id"] = content
        r = await client.post(f"/api/ads/{ad['id']}/impressions", headers=who, json=body)
        assert r.status_code == 200, r.text
        reasons[name] = (r.json()["data"]["counted"], r.json()["data"]["reason"])
    assert reasons == {
        name: (False, "expired" if name == "expired" else "invalid_token") for name in cases
    }
    assert await ledger_is_consistent(engine, ADV) == (10 * UNIT, 0)
    r = await impression(client, auth(7), ad["id"], token)
    assert r.json()["data"]["counted"] is True
    assert await ledger_is_consistent(engine, ADV) == (9 * UNIT, UNIT)
    stats = (await client.get(f"/api/advertiser/ads/{ad['id']}/stats", headers=adv)).json()
    data = stats["data"]
    assert data["refused"] == {"impression:invalid_token": 6, "impression:expired": 1}
    assert (data["impressions"], data["impressions_reported"]) == (1, 8)
    assert data["days"][0]["refused"] == 7 and data["days"][0]["impressions"] == 1
    metric = api_app.state.registry.get_sample_value(
        "ad_refused_total", {"event": "impression", "reason": "invalid_token"}
    )
    assert metric == 6


async def test_impression_errors(client, admin, auth, engine):
    """Unknown and pending ads are 404; a bad body is 400 naming the field."""
    adv = advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    assert (await impression(client, auth(7), 999, "x")).status_code == 404
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv)
    pending = r.json()["data"]["id"]
    assert (await impression(client, auth(7), pending, "x")).status_code == 404
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
    assert await ledger_is_consistent(engine, ADV) == (10 * UNIT, 0)


async def _tokens(http, viewer, ad_id, n, placement="preroll", base=""):
    return [await served_token(http, viewer, ad_id, placement, base=base) for _ in range(n)]


async def test_spent_budget_stops_billing_and_serving(client, admin, auth, engine):
    """With a budget of two impressions, the third is refused (budget_exhausted) and the ad
    is no longer served."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=100 * UNIT, budget_micros=2 * UNIT)
    tokens = await _tokens(client, viewer, ad["id"], 3)
    reasons = [
        (await impression(client, viewer, ad["id"], t)).json()["data"]["reason"] for t in tokens
    ]
    assert reasons == [None, None, "budget_exhausted"]
    assert await served(client, viewer) is None
    assert await ledger_is_consistent(engine, ADV) == (98 * UNIT, 2 * UNIT)


async def test_daily_budget_paces_spend_beside_the_total(client, admin, auth, engine):
    """With a daily budget of two impressions (and a large total), the third of the day is
    refused (daily_budget) and the ad is not served again today."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=100 * UNIT, daily_budget_micros=2 * UNIT)
    assert ad["daily_budget_micros"] == 2 * UNIT
    tokens = await _tokens(client, viewer, ad["id"], 3)
    reasons = [
        (await impression(client, auth(7), ad["id"], t)).json()["data"]["reason"] for t in tokens
    ]
    assert reasons == [None, None, "daily_budget"]
    assert await served(client, auth(9)) is None
    assert await ledger_is_consistent(engine, ADV) == (98 * UNIT, 2 * UNIT)
    [(day, imps, spent)] = await rows(engine, "SELECT day, impressions, spent_micros FROM ad_days")
    stats = (await client.get(f"/api/advertiser/ads/{ad['id']}/stats", headers=adv)).json()
    assert stats["data"]["days"][0] == {
        "day": day.isoformat(),
        "impressions": 2,
        "clicks": 0,
        "spent_micros": 2 * UNIT,
        "ctr": 0.0,
        "refused": 1,
    } and (imps, spent) == (2, 2 * UNIT)


async def test_frequency_cap_per_viewer_per_day(client, admin, auth, engine):
    """With a frequency cap of 2, a viewer's third impression of the day is refused
    (frequency_cap) and the ad is no longer served to that viewer, still to another."""
    adv = advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=100 * UNIT, frequency_cap=2)
    tokens = await _tokens(client, auth(7), ad["id"], 3)
    reasons = [
        (await impression(client, auth(7), ad["id"], t)).json()["data"]["reason"] for t in tokens
    ]
    assert reasons == [None, None, "frequency_cap"]
    assert await served(client, auth(7)) is None
    assert (await served(client, auth(8)))["id"] == ad["id"]
    assert await ledger_is_consistent(engine, ADV) == (98 * UNIT, 2 * UNIT)


async def test_empty_wallet_stops_billing_and_serving(client, admin, auth, engine):
    """With a wallet of one impression, the second is refused (wallet_empty), the wallet
    stays at zero, and the ad is not served until the next charge."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=UNIT)
    tokens = await _tokens(client, viewer, ad["id"], 2)
    reasons = [
        (await impression(client, viewer, ad["id"], t)).json()["data"]["reason"] for t in tokens
    ]
    assert reasons == [None, "wallet_empty"]
    assert await served(client, viewer) is None
    assert await ledger_is_consistent(engine, ADV) == (0, UNIT)
    await charge(client, adv, UNIT)
    assert (await served(client, viewer))["id"] == ad["id"]


async def test_rejected_ad_stops_counting(client, admin, auth, engine):
    """After an admin rejects a live ad, a token served before is refused (not_in_flight),
    and nothing is billed: the wallet holds its whole charge."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    token = await served_token(client, viewer, ad["id"])
    await client.post(f"/api/admin/ads/{ad['id']}/reject", headers=admin, json={"reason": "x"})
    r = await impression(client, viewer, ad["id"], token)
    assert r.json()["data"]["reason"] == "not_in_flight"
    assert await served(client, viewer) is None
    assert await ledger_is_consistent(engine, ADV) == (10 * UNIT, 0)


async def _click(client, who, ad_id, token):
    r = await client.post(f"/api/ads/{ad_id}/clicks", headers=who, json={"impression_id": token})
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_cpc_clicks_bill_once_per_counted_impression(client, admin, auth, engine):
    """A CPC click needs the viewer's own counted impression: a made-up id, a served token not
    yet counted and another viewer's click are refused; the first good click bills
    price_micros once and returns the click_url; a repeated click is a duplicate."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=1_000_000, billing="cpc", price_micros=300_000)
    token = await served_token(client, viewer, ad["id"])
    assert (await _click(client, viewer, ad["id"], "made-up"))["reason"] == "invalid_token"
    assert (await _click(client, viewer, ad["id"], token))["reason"] == "not_counted"
    r = await impression(client, viewer, ad["id"], token)
    assert (r.json()["data"]["counted"], r.json()["data"]["cost_micros"]) == (True, 0)
    assert (await _click(client, auth(8), ad["id"], token))["reason"] == "invalid_token"
    data = await _click(client, viewer, ad["id"], token)
    assert (data["counted"], data["cost_micros"]) == (True, 300_000)
    assert data["click_url"] == CPM_AD["click_url"]
    data = await _click(client, viewer, ad["id"], token)
    assert (data["duplicate"], data["cost_micros"]) == (True, 0)
    assert await ledger_is_consistent(engine, ADV) == (700_000, 300_000)
    assert await scalar(engine, "SELECT clicks FROM ads") == 1
    stats = (await client.get(f"/api/advertiser/ads/{ad['id']}/stats", headers=adv)).json()
    assert stats["data"]["refused"] == {
        "click:invalid_token": 2,
        "click:not_counted": 1,
        "click:duplicate": 1,
    }
    assert stats["data"]["ctr"] == 1.0


async def test_a_click_after_the_window_is_refused(spawn, token, engine):
    """With a 1 s click window, a click on an impression counted more than 1 s ago is refused
    (click_window) and bills nothing."""
    api = spawn("api.app:app", {**FAST_ENV, "AD_CLICK_WINDOW_S": "1"})
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    adv = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    viewer = {"Authorization": f"Bearer {token(7)}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        ad = await live_ad(http, admin, adv, wallet=10**6, billing="cpc", price_micros=1000)
        imp = await served_token(http, viewer, ad["id"])
        assert (await impression(http, viewer, ad["id"], imp)).json()["data"]["counted"]
        await asyncio.sleep(1.2)
        assert (await _click(http, viewer, ad["id"], imp))["reason"] == "click_window"
    assert await ledger_is_consistent(engine, ADV) == (10**6, 0)


async def test_cpm_clicks_are_counted_not_billed(client, admin, auth, engine):
    """A click on a CPM ad counts (for CTR) and costs nothing."""
    viewer, adv = auth(7), advertiser_of(auth)
    ad = await live_ad(client, admin, adv, wallet=10 * UNIT)
    token = await served_token(client, viewer, ad["id"])
    await impression(client, viewer, ad["id"], token)
    data = await _click(client, viewer, ad["id"], token)
    assert (data["counted"], data["cost_micros"]) == (True, 0)
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
    async with httpx.AsyncClient(timeout=10) as http:
        ids = [await served_token(http, viewers[i % 6], ad["id"], base=a.url) for i in range(60)]
    answers = await _burst([a.url, b.url], ad["id"], viewers, ids)
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
    async with httpx.AsyncClient(timeout=10) as http:
        ids = [await served_token(http, viewers[i % 4], ad["id"], base=a.url) for i in range(40)]
    answers = await _burst([a.url, b.url], ad["id"], viewers, ids)
    reasons = collections.Counter(r.json()["data"]["reason"] for r in answers)
    assert reasons == {None: 5, "budget_exhausted": 35}, reasons
    assert await ledger_is_consistent(engine, ADV) == (95 * UNIT, 5 * UNIT)


async def test_concurrent_reports_of_one_impression_bill_it_once(spawn, token, engine):
    """30 concurrent reports of the same served token on two api processes: one counted and
    billed, the rest duplicates."""
    a, b = spawn("api.app:app", FAST_ENV), spawn("api.app:app", FAST_ENV)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    adv = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    async with httpx.AsyncClient(timeout=10) as http:
        ad = await live_ad(http, admin, adv, wallet=100 * UNIT, base=a.url)
    viewer = [{"Authorization": f"Bearer {token(100)}"}]
    async with httpx.AsyncClient(timeout=10) as http:
        same = await served_token(http, viewer[0], ad["id"], base=a.url)
    answers = await _burst([a.url, b.url], ad["id"], viewer, [same] * 30)
    flags = collections.Counter(
        (r.json()["data"]["counted"], r.json()["data"]["duplicate"]) for r in answers
    )
    assert flags == {(True, False): 1, (True, True): 29}, flags
    assert await ledger_is_consistent(engine, ADV) == (99 * UNIT, UNIT)
