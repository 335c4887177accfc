"""Advertiser payments through the gateway (Toss Payments' protocol) against its local
stand-in process (devkit/servers/pg.py): a charge is pending until the gateway confirms it;
the wallet is credited exactly once (webhook retries, replays, concurrent deliveries on two
api processes, a webhook racing the confirm call); failed, expired and wrongly signed never
credit. Also the admin's manual credit, audited."""

from __future__ import annotations

import asyncio
import collections

import httpx

from tests.api.money import FAST_ENV, ledger_is_consistent, rows, scalar

ADV = 50
KRW = 1_000_000  # micros
PG = {"PG_SECRET_KEY": "test_sk_local", "PG_WEBHOOK_SECRET": "whsec_local"}


def stack(spawn, n=1, **extra):
    gw = spawn("devkit.servers.pg:app", PG)
    env = {
        **FAST_ENV,
        **PG,
        "PG_API_URL": gw.url,
        "PG_CLIENT_KEY": "test_ck_local",
        **extra,
    }
    return gw, [spawn("api.app:app", env) for _ in range(n)]


def headers(token, key=None):
    h = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    return {**h, "Idempotency-Key": key} if key else h


async def start_charge(http, api, token, krw, key="k1"):
    r = await http.post(
        f"{api.url}/api/advertiser/wallet/charges",
        headers=headers(token, key),
        json={"amount_micros": krw * KRW},
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def pay(http, gw, order_id, krw, outcome="DONE"):
    r = await http.post(
        f"{gw.url}/test/pay", json={"orderId": order_id, "amount": krw, "outcome": outcome}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def deliver(http, api, webhook, headers=None):
    return await http.post(
        f"{api.url}/api/payments/webhook",
        content=webhook["body"].encode(),
        headers={"Content-Type": "application/json", **(headers or webhook["headers"])},
    )


async def balance(engine):
    return await scalar(
        engine, "SELECT balance_micros FROM advertiser_wallets WHERE advertiser_id = :a", a=ADV
    )


async def test_a_charge_is_pending_until_the_gateway_confirms_it_once(spawn, token, engine):
    """The charge answers a pending payment with the hosted checkout URL and credits
    nothing; a retried charge with the key is the same payment; after paying at the
    gateway, the confirm call credits once, and a repeat of it or the webhook credits no more."""
    gw, (api,) = stack(spawn)
    async with httpx.AsyncClient(timeout=30) as http:
        p = await start_charge(http, api, token, 5000)
        assert p["status"] == "pending" and p["checkout_url"].startswith(f"{gw.url}/checkout?")
        assert (
            f"orderId={p['order_id']}" in p["checkout_url"] and "amount=5000" in p["checkout_url"]
        )
        page = await http.get(p["checkout_url"])
        assert page.status_code == 200 and "5000 KRW" in page.text
        again = await start_charge(http, api, token, 5000)
        assert again["order_id"] == p["order_id"]
        assert await balance(engine) == 0
        paid = await pay(http, gw, p["order_id"], 5000)
        body = {"paymentKey": paid["paymentKey"], "orderId": p["order_id"], "amount": 5000}
        for _ in range(2):
            r = await http.post(
                f"{api.url}/api/advertiser/wallet/charges/confirm",
                headers=headers(token),
                json=body,
            )
            assert (r.status_code, r.json()["data"]["status"]) == (200, "paid"), r.text
        assert (await deliver(http, api, paid["webhook"])).status_code == 200
        r = await http.get(
            f"{api.url}/api/advertiser/wallet/charges/{p['order_id']}", headers=headers(token)
        )
        assert r.json()["data"]["status"] == "paid" and r.json()["data"]["checkout_url"] is None
        wallet = (await http.get(f"{api.url}/api/advertiser/wallet", headers=headers(token))).json()
    assert wallet["data"]["charged_micros"] == 5000 * KRW
    assert await ledger_is_consistent(engine, ADV) == (5000 * KRW, 0)
    assert await rows(engine, "SELECT kind, ref FROM wallet_transactions") == [
        ("charge", f"pay:{p['order_id']}")
    ]


async def test_concurrent_webhooks_for_one_payment_credit_once(spawn, token, engine):
    """The same signed DONE webhook delivered 40 times at once to two api processes, with
    the confirm call racing them: one credit."""
    gw, apis = stack(spawn, 2)
    async with httpx.AsyncClient(timeout=30) as http:
        p = await start_charge(http, apis[0], token, 1000)
        paid = await pay(http, gw, p["order_id"], 1000)
        body = {"paymentKey": paid["paymentKey"], "orderId": p["order_id"], "amount": 1000}
        confirm = http.post(
            f"{apis[1].url}/api/advertiser/wallet/charges/confirm",
            headers=headers(token),
            json=body,
        )
        answers = await asyncio.gather(
            confirm, *(deliver(http, apis[i % 2], paid["webhook"]) for i in range(40))
        )
    assert collections.Counter(r.status_code for r in answers) == {200: 41}
    assert await ledger_is_consistent(engine, ADV) == (1000 * KRW, 0)
    assert await scalar(engine, "SELECT count(*) FROM wallet_transactions") == 1
    assert await rows(engine, "SELECT status FROM payments") == [("paid",)]


async def test_bad_signatures_failed_and_expired_payments_never_credit(spawn, token, engine):
    """A webhook with a wrong or missing signature, or an altered body, is 401 and changes
    nothing; an ABORTED payment fails (the confirm is refused, a later DONE cannot revive
    it); a payment past its expiry is expired by the gateway's DONE and never credited; an
    amount other than the order's fails it."""
    gw, (api,) = stack(spawn, PAYMENT_TTL_S="10")
    async with httpx.AsyncClient(timeout=30) as http:
        p = await start_charge(http, api, token, 100, key="sig")
        paid = await pay(http, gw, p["order_id"], 100)
        wh = paid["webhook"]
        forged = {**wh["headers"], "tosspayments-webhook-signature": "v1:AAAA"}
        assert (await deliver(http, api, wh, forged)).status_code == 401
        assert (await deliver(http, api, wh, {"x": "y"})).status_code == 401
        altered = {**wh, "body": wh["body"].replace('"totalAmount": 100', '"totalAmount": 9')}
        assert (await deliver(http, api, altered, wh["headers"])).status_code == 401
        assert await rows(engine, "SELECT status FROM payments") == [("pending",)]

        q = await start_charge(http, api, token, 200, key="abort")
        aborted = await pay(http, gw, q["order_id"], 200, outcome="ABORTED")
        body = {"paymentKey": aborted["paymentKey"], "orderId": q["order_id"], "amount": 200}
        r = await http.post(
            f"{api.url}/api/advertiser/wallet/charges/confirm", headers=headers(token), json=body
        )
        assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
        assert (await deliver(http, api, aborted["webhook"])).status_code == 200
        late = await pay(http, gw, q["order_id"], 200)  # a DONE after the failure
        assert (await deliver(http, api, late["webhook"])).status_code == 200

        m = await start_charge(http, api, token, 300, key="mismatch")
        wrong = await pay(http, gw, m["order_id"], 299)
        assert (await deliver(http, api, wrong["webhook"])).status_code == 200

        async with engine.begin() as conn:  # the first payment's time ran out
            from sqlalchemy import text

            await conn.execute(
                text("UPDATE payments SET expires_at = now() - interval '1 s' WHERE order_id = :o"),
                {"o": p["order_id"]},
            )
        assert (await deliver(http, api, wh)).status_code == 200
    assert sorted(await rows(engine, "SELECT amount_micros / 1000000, status FROM payments")) == [
        (100, "expired"),
        (200, "failed"),
        (300, "failed"),
    ]
    assert await ledger_is_consistent(engine, ADV) == (0, 0)
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    async with httpx.AsyncClient(timeout=30) as http:
        view = (
            await http.get(f"{api.url}/api/admin/payments?advertiser_id={ADV}", headers=admin)
        ).json()
        failed = (
            await http.get(f"{api.url}/api/admin/payments?status=failed", headers=admin)
        ).json()
        other = (
            await http.get(f"{api.url}/api/admin/payments?advertiser_id=51", headers=admin)
        ).json()
    assert [p["status"] for p in view["data"]["items"]] == ["failed", "failed", "expired"]
    assert {p["failure"] for p in failed["data"]["items"]} == {
        "ABORTED",
        "amount 299 KRW differs from the order's",
    }
    assert other["data"]["items"] == []


async def test_admin_manual_credit_is_audited_and_applied_once(client, admin, auth, engine):
    """A bank transfer credited by an admin: one ledger row of kind credit, once per key,
    one audit entry; an advertiser cannot credit themselves."""
    body = {"amount_micros": 1234, "reference": "transfer 2026-12-03 #77"}
    h = {**admin, "Idempotency-Key": "bank-77"}
    first = await client.post(f"/api/admin/wallets/{ADV}/credits", headers=h, json=body)
    again = await client.post(f"/api/admin/wallets/{ADV}/credits", headers=h, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"] == again.json()["data"]
    assert again.headers["idempotent-replayed"] == "true"
    own = {**auth(ADV, ("advertiser",)), "Idempotency-Key": "self"}
    r = await client.post(f"/api/admin/wallets/{ADV}/credits", headers=own, json=body)
    assert r.status_code == 403
    assert await ledger_is_consistent(engine, ADV) == (1234, 0)
    [(actor, target, after)] = await rows(
        engine, "SELECT actor_id, target, after FROM audit_log WHERE action = 'wallet.credit'"
    )
    assert (actor, target, after["reference"]) == (1, f"advertiser:{ADV}", body["reference"])


async def test_charges_without_a_gateway_or_of_fractional_units_are_refused(client, auth):
    """Without PG_API_URL a charge is 503 (never a credit); an amount that is not whole
    currency units is a 400 naming it; no key is a 400."""
    h = {**auth(ADV, ("advertiser",)), "Idempotency-Key": "k"}
    r = await client.post("/api/advertiser/wallet/charges", headers=h, json={"amount_micros": 10})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "amount_micros")
    r = await client.post(
        "/api/advertiser/wallet/charges", headers=h, json={"amount_micros": 2 * KRW}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")
    r = await client.post(
        "/api/advertiser/wallet/charges",
        headers=auth(ADV, ("advertiser",)),
        json={"amount_micros": KRW},
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "Idempotency-Key")
