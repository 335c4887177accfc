"""Withdrawals of unspent advertiser balance (api/withdrawals.py): the amount leaves the
wallet through the ledger when it is asked for, exactly once per Idempotency-Key; small ones
are approved at once, larger ones wait for an admin, and a rejection puts the amount back
exactly once. The ledger oracle holds after every step, also under concurrent requests on
two api processes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.money import FAST_ENV, charge, ledger_is_consistent, rows, scalar

ADV = 50
KRW = 1_000_000
# WITHDRAWAL_APPROVAL_MICROS is at its default: 100,000 KRW are approved at once.


def advertiser(auth: Any, key: str | None = None, user_id: int = ADV) -> dict[str, str]:
    headers = auth(user_id, ("advertiser",))
    return {**headers, "Idempotency-Key": key} if key else headers


async def withdraw(http: Any, headers: dict[str, str], krw: int, base: str = "") -> Any:
    return await http.post(
        f"{base}/api/advertiser/wallet/withdrawals",
        json={"amount_micros": krw * KRW, "bank_account": "KB 123-45-6789 Hong"},
        headers=headers,
    )


async def wallet(http: Any, auth: Any) -> dict[str, Any]:
    r = await http.get("/api/advertiser/wallet", headers=advertiser(auth))
    return dict(r.json()["data"])


async def test_a_small_withdrawal_is_approved_at_once_and_taken_once(client, auth, engine):
    """Up to the limit: approved, the amount out of the balance in one ledger row; the same
    key again answers the same withdrawal (replayed) and takes nothing more; the same key
    for another amount is 409."""
    await charge(client, advertiser(auth), 20_000 * KRW)
    r = await withdraw(client, advertiser(auth, "w1"), 5_000)
    assert r.status_code == 201, r.text
    first = r.json()["data"]
    assert (first["status"], first["amount_micros"], first["decided_by"]) == (
        "approved",
        5_000 * KRW,
        None,
    )
    assert r.headers["idempotent-replayed"] == "false"
    again = await withdraw(client, advertiser(auth, "w1"), 5_000)
    assert (again.status_code, again.json()["data"], again.headers["idempotent-replayed"]) == (
        201,
        first,
        "true",
    )
    other = await withdraw(client, advertiser(auth, "w1"), 6_000)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "conflict")
    w = await wallet(client, auth)
    assert (w["balance_micros"], w["withdrawn_micros"]) == (15_000 * KRW, 5_000 * KRW)
    ledger = await rows(
        engine,
        "SELECT kind, amount_micros, ref FROM wallet_transactions WHERE advertiser_id = :a"
        " AND kind = 'withdrawal'",
        a=ADV,
    )
    assert ledger == [("withdrawal", -5_000 * KRW, f"withdraw:{ADV}:w1")]
    assert await ledger_is_consistent(engine, ADV) == (15_000 * KRW, 0)


async def test_more_than_the_balance_is_refused_and_takes_nothing(client, auth, engine):
    """Past the balance: 409 `insufficient_funds` with the balance; a bad amount (not whole
    KRW, zero) or no Idempotency-Key is 400; nothing leaves the wallet."""
    await charge(client, advertiser(auth), 1_000 * KRW)
    r = await withdraw(client, advertiser(auth, "big"), 1_001)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "insufficient_funds")
    assert r.json()["error"]["details"] == {"balance_micros": 1_000 * KRW}
    for amount in (KRW + 1, 0):
        r = await client.post(
            "/api/advertiser/wallet/withdrawals",
            json={"amount_micros": amount, "bank_account": "KB 1"},
            headers=advertiser(auth, "odd"),
        )
        assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_request"), r.text
    r = await withdraw(client, advertiser(auth), 10)
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "Idempotency-Key")
    assert (await wallet(client, auth))["balance_micros"] == 1_000 * KRW
    assert await scalar(engine, "SELECT count(*) FROM withdrawals") == 0


async def test_a_large_withdrawal_waits_and_a_rejection_puts_it_back_once(
    client, admin, auth, engine
):
    """Above the limit: pending, yet already out of the balance (ads cannot spend it). An
    admin's rejection returns it once, audited; rejecting again answers the same, approving
    a rejected one is 409; the advertiser sees the note. An approval records its transfer
    reference and moves no money."""
    await charge(client, advertiser(auth), 500_000 * KRW)
    pending = (await withdraw(client, advertiser(auth, "a"), 200_000)).json()["data"]
    assert pending["status"] == "pending"
    assert (await wallet(client, auth))["balance_micros"] == 300_000 * KRW
    r = await client.get("/api/admin/withdrawals?status=pending", headers=admin)
    assert [w["id"] for w in r.json()["data"]["items"]] == [pending["id"]]

    reject = f"/api/admin/withdrawals/{pending['id']}/reject"
    r = await client.post(reject, json={"note": "account holder differs"}, headers=admin)
    assert r.status_code == 200, r.text
    rejected = r.json()["data"]
    assert (rejected["status"], rejected["decided_by"]) == ("rejected", 1)
    again = await client.post(reject, json={"note": "twice"}, headers=admin)
    assert again.json()["data"] == rejected
    r = await client.post(
        f"/api/admin/withdrawals/{pending['id']}/approve", json={"note": "tx 1"}, headers=admin
    )
    assert (r.status_code, r.json()["error"]["details"]) == (409, {"status": "rejected"})
    w = await wallet(client, auth)
    assert (w["balance_micros"], w["withdrawn_micros"]) == (500_000 * KRW, 0)
    reversals = await rows(
        engine, "SELECT amount_micros, ref FROM wallet_transactions WHERE kind = 'reversal'"
    )
    assert reversals == [(200_000 * KRW, f"reversal:{pending['id']}")]
    mine = await client.get("/api/advertiser/wallet/withdrawals", headers=advertiser(auth))
    assert [(x["status"], x["note"]) for x in mine.json()["data"]["items"]] == [
        ("rejected", "account holder differs")
    ]

    second = (await withdraw(client, advertiser(auth, "b"), 300_000)).json()["data"]
    r = await client.post(
        f"/api/admin/withdrawals/{second['id']}/approve",
        json={"note": "KB transfer 2026-12-04 #77"},
        headers=admin,
    )
    assert r.json()["data"]["status"] == "approved"
    assert (await wallet(client, auth))["balance_micros"] == 200_000 * KRW
    audit = await rows(
        engine,
        "SELECT action, target FROM audit_log WHERE action LIKE 'withdrawal.%' ORDER BY id",
    )
    assert audit == [
        ("withdrawal.reject", f"withdrawal:{pending['id']}"),
        ("withdrawal.approve", f"withdrawal:{second['id']}"),
    ]
    assert await ledger_is_consistent(engine, ADV) == (200_000 * KRW, 0)


async def test_who_may_do_what(client, admin, auth):
    """A viewer cannot withdraw; an advertiser sees only their own withdrawals and cannot
    decide; an unknown withdrawal is 404."""
    await charge(client, advertiser(auth), 1_000 * KRW)
    await withdraw(client, advertiser(auth, "mine"), 100)
    r = await withdraw(client, {**auth(7), "Idempotency-Key": "x"}, 100)
    assert r.status_code == 403
    theirs = await client.get(
        "/api/advertiser/wallet/withdrawals", headers=advertiser(auth, None, 51)
    )
    assert theirs.json()["data"]["items"] == []
    r = await client.post(
        "/api/admin/withdrawals/1/approve", json={"note": "n"}, headers=advertiser(auth)
    )
    assert r.status_code == 403
    r = await client.post("/api/admin/withdrawals/999999/reject", json={"note": "n"}, headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


async def test_concurrent_withdrawals_and_decisions_move_money_once(spawn, token, engine):
    """On two api processes at once: 20 withdrawals of 1,000 KRW against a 10,000 KRW wallet
    take exactly 10 and refuse the rest; 10 admins rejecting and approving one pending
    withdrawal decide it once, with at most one reversal. The ledger oracle holds."""
    apis = [spawn("api.app:app", {**FAST_ENV, "WITHDRAWAL_APPROVAL_MICROS": "0"}) for _ in range(2)]
    adv = {"Authorization": f"Bearer {token(ADV, ('advertiser',))}"}
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    async with httpx.AsyncClient(timeout=20) as http:
        await charge(http, adv, 10_000 * KRW, base=apis[0].url)
        answers = await asyncio.gather(
            *(
                withdraw(http, {**adv, "Idempotency-Key": f"k{i}"}, 1_000, base=apis[i % 2].url)
                for i in range(20)
            )
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [201] * 10 + [409] * 10, [r.text for r in answers]
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {
            "insufficient_funds"
        }
        one = next(r.json()["data"]["id"] for r in answers if r.status_code == 201)
        decisions = await asyncio.gather(
            *(
                http.post(
                    f"{apis[i % 2].url}/api/admin/withdrawals/{one}/"
                    + ("reject" if i % 2 else "approve"),
                    json={"note": f"admin {i}"},
                    headers=admin,
                )
                for i in range(10)
            )
        )
    finals = {r.json()["data"]["status"] for r in decisions if r.status_code == 200}
    assert len(finals) == 1 and all(r.status_code in (200, 409) for r in decisions)
    reversals = await scalar(
        engine, "SELECT count(*) FROM wallet_transactions WHERE kind = 'reversal'"
    )
    assert reversals == (1 if finals == {"rejected"} else 0)
    balance, _ = await ledger_is_consistent(engine, ADV)
    assert balance == (1_000 * KRW if finals == {"rejected"} else 0)
