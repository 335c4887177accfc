"""Admin money routes: ad review, the reward table CSV upload (all or nothing, errors name
the line), and settlements of advertiser spend."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from tests.api.money import CPM_AD, live_ad, rows, show, upload_table

UNIT = CPM_AD["price_micros"] // 1000
SEOUL = ZoneInfo("Asia/Seoul")


def adv(auth, user_id=50):
    return auth(user_id, ("advertiser",))


async def audit_of(engine, action):
    return await rows(
        engine,
        "SELECT actor_id, target, before, after FROM audit_log WHERE action = :a ORDER BY id",
        a=action,
    )


# --- ad review ---------------------------------------------------------------------------


async def test_review_queue_approve_and_reject_are_audited(client, admin, auth, engine):
    """Pending ads list oldest first; approve and reject change the status, record who and
    why, and write audit entries with before and after; a repeat changes nothing."""
    ids = []
    for _ in range(2):
        r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv(auth))
        ids.append(r.json()["data"]["id"])
    queue = (await client.get("/api/admin/ads?status=pending", headers=admin)).json()["data"]
    assert [a["id"] for a in queue["items"]] == ids
    r = await client.post(f"/api/admin/ads/{ids[0]}/approve", headers=admin)
    assert (r.json()["data"]["status"], r.json()["data"]["reviewed_at"] is not None) == (
        "approved",
        True,
    )
    await client.post(f"/api/admin/ads/{ids[0]}/approve", headers=admin)  # no-op
    r = await client.post(
        f"/api/admin/ads/{ids[1]}/reject", headers=admin, json={"reason": "misleading"}
    )
    assert (r.json()["data"]["status"], r.json()["data"]["review_reason"]) == (
        "rejected",
        "misleading",
    )
    assert await audit_of(engine, "ad.approve") == [
        (
            1,
            f"ad:{ids[0]}",
            {"status": "pending", "review_reason": None},
            {"status": "approved", "review_reason": None},
        )
    ]
    [(_, target, before, after)] = await audit_of(engine, "ad.reject")
    assert (target, before["status"], after) == (
        f"ad:{ids[1]}",
        "pending",
        {"status": "rejected", "review_reason": "misleading"},
    )
    by_adv = (
        await client.get("/api/admin/ads?advertiser_id=50&status=approved", headers=admin)
    ).json()["data"]
    assert [a["id"] for a in by_adv["items"]] == [ids[0]]


async def test_review_errors(client, admin, auth):
    """Unknown ad: 404; a viewer or an advertiser: 403; a bad status filter: 400."""
    assert (await client.post("/api/admin/ads/999/approve", headers=admin)).status_code == 404
    r = await client.post("/api/advertiser/ads", json=CPM_AD, headers=adv(auth))
    ad_id = r.json()["data"]["id"]
    for who in (auth(7), adv(auth)):
        r = await client.post(f"/api/admin/ads/{ad_id}/approve", headers=who)
        assert r.status_code == 403
    r = await client.get("/api/admin/ads?status=live", headers=admin)
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "status")


# --- reward table ------------------------------------------------------------------------


async def test_upload_csv_replaces_the_table_and_is_audited(client, admin, engine):
    """A CSV upload (header optional, blank lines skipped) becomes the table in force,
    audited with before and after; JSON {csv} is accepted too."""
    assert (await client.get("/api/admin/reward-table", headers=admin)).json()["data"] is None
    first = await upload_table(client, admin, "amount,weight\n10,9\n\n1000,1\n")
    assert [(r["amount"], r["weight"], r["probability"]) for r in first["rows"]] == [
        (10, 9, 0.9),
        (1000, 1, 0.1),
    ]
    r = await client.post("/api/admin/reward-table", headers=admin, json={"csv": "5,1\r\n"})
    assert r.status_code == 201
    current = (await client.get("/api/admin/reward-table", headers=admin)).json()["data"]
    assert (current["id"], current["total_weight"]) == (r.json()["data"]["id"], 1)
    audits = await audit_of(engine, "rewards.upload")
    assert [(b and b["id"], a["id"]) for _, _, b, a in audits] == [
        (None, first["id"]),
        (first["id"], current["id"]),
    ]


async def test_bad_row_names_its_line_and_changes_nothing(client, admin, engine):
    """A bad row on line N answers 400 with details.line == N, and the table in force, the
    table versions and the audit log are unchanged."""
    before = await upload_table(client, admin, "10,1\n")
    cases = [
        ("amount,weight\n10,5\n20,x\n30,1\n", 3, "weight"),
        ("10,5\n\n-1,1\n", 3, "amount"),
        ("10,5\n20,0\n", 2, "weight"),
        ("10,5,7\n", 1, None),
        ("amount,weight\n1,1\n2,2\n3,3\n4,4\nweight,amount\n", 6, "amount"),
        ("1,1\n" * 1000 + "2,2\n", 1001, None),
    ]
    for body, line, field in cases:
        r = await client.post(
            "/api/admin/reward-table",
            content=body.encode(),
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert r.status_code == 400, body
        details = r.json()["error"]["details"]
        assert (details["line"], details["field"]) == (line, field), body
        assert f"line {line}" in r.json()["error"]["message"]
    for body in ("", "amount,weight\n", "\n\n"):
        r = await client.post(
            "/api/admin/reward-table",
            content=body.encode(),
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert (r.status_code, r.json()["error"]["details"]["line"]) == (400, None), body
    current = (await client.get("/api/admin/reward-table", headers=admin)).json()["data"]
    assert current == before
    assert len(await rows(engine, "SELECT id FROM reward_tables")) == 1
    assert len(await audit_of(engine, "rewards.upload")) == 1


# --- settlements -------------------------------------------------------------------------


async def _spend_two_days_ago(client, admin, auth, engine):
    """Advertisers 50 and 51 spend 3 and 1 impressions; the ledger rows are moved to two
    days ago (local), as if billed then."""
    ad50 = await live_ad(client, admin, adv(auth), wallet=10 * UNIT)
    ad51 = await live_ad(client, admin, adv(auth, 51), wallet=10 * UNIT, placement="banner")
    for _ in range(3):
        await show(client, auth(7), ad50["id"])
    await show(client, auth(7), ad51["id"], "banner")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE wallet_transactions SET created_at ="
                " created_at - interval '2 days' WHERE amount_micros < 0"
            )
        )
    return datetime.now(SEOUL).date() - timedelta(days=2)


async def test_settlement_sums_spend_per_advertiser_and_confirms(client, admin, auth, engine):
    """A settlement over [day, day+1) holds each advertiser's debits of that day; confirm
    freezes it (idempotently); both steps are audited."""
    day = await _spend_two_days_ago(client, admin, auth, engine)
    body = {"period_start": day.isoformat(), "period_end": (day + timedelta(1)).isoformat()}
    r = await client.post("/api/admin/settlements", headers=admin, json=body)
    assert r.status_code == 201, r.text
    s = r.json()["data"]
    assert (s["status"], s["total_micros"]) == ("draft", 4 * UNIT)
    assert s["lines"] == [
        {"advertiser_id": 50, "impressions": 3, "clicks": 0, "amount_micros": 3 * UNIT},
        {"advertiser_id": 51, "impressions": 1, "clicks": 0, "amount_micros": UNIT},
    ]
    r = await client.post(f"/api/admin/settlements/{s['id']}/confirm", headers=admin)
    assert (r.json()["data"]["status"], r.json()["data"]["confirmed_by"]) == ("confirmed", 1)
    again = await client.post(f"/api/admin/settlements/{s['id']}/confirm", headers=admin)
    assert again.json()["data"]["confirmed_at"] == r.json()["data"]["confirmed_at"]
    assert [a[1] for a in await audit_of(engine, "settlement.create")] == [f"settlement:{s['id']}"]
    assert len(await audit_of(engine, "settlement.confirm")) == 1
    listed = (await client.get("/api/admin/settlements", headers=admin)).json()["data"]
    assert [(x["id"], x["lines"]) for x in listed["items"]] == [(s["id"], None)]
    detail = (await client.get(f"/api/admin/settlements/{s['id']}", headers=admin)).json()
    assert len(detail["data"]["lines"]) == 2
    empty_day = {
        "period_start": (day - timedelta(5)).isoformat(),
        "period_end": (day - timedelta(4)).isoformat(),
    }
    r = await client.post("/api/admin/settlements", headers=admin, json=empty_day)
    assert (r.json()["data"]["total_micros"], r.json()["data"]["lines"]) == (0, [])


async def test_settlement_exports_as_csv_for_the_books(client, admin, auth, engine):
    """The CSV holds the settlement's lines with exact amounts (micros and KRW to six
    places), opens as UTF-8 in a spreadsheet (byte-order mark), and an email a spreadsheet
    would run as a formula is defused; a missing settlement is the 404 envelope."""
    import csv
    import io

    day = await _spend_two_days_ago(client, admin, auth, engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET email = '=HYPERLINK(1)@x.example' WHERE id = 51"))
    body = {"period_start": day.isoformat(), "period_end": (day + timedelta(1)).isoformat()}
    s = (await client.post("/api/admin/settlements", headers=admin, json=body)).json()["data"]
    r = await client.get(f"/api/admin/settlements/{s['id']}/csv", headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="settlement-{s["id"]}.csv"' in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf") and b"\r\n" in r.content
    table = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["advertiser_id"], x["impressions"], x["amount_micros"]) for x in table] == [
        ("50", "3", str(3 * UNIT)),
        ("51", "1", str(UNIT)),
    ]
    assert table[0]["amount_krw"] == f"{3 * UNIT // 1_000_000}.{3 * UNIT % 1_000_000:06d}"
    assert table[1]["advertiser_email"] == "'=HYPERLINK(1)@x.example"
    assert {(x["settlement_id"], x["period_start"], x["status"]) for x in table} == {
        (str(s["id"]), day.isoformat(), "draft")
    }
    r = await client.get("/api/admin/settlements/999999/csv", headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    r = await client.get(f"/api/admin/settlements/{s['id']}/csv", headers=adv(auth))
    assert r.status_code == 403


async def test_settlement_errors(client, admin, auth):
    """Overlapping periods are 409; a period not over yet or reversed is 400; an unknown
    settlement is 404; a viewer is refused."""
    today = datetime.now(SEOUL).date()
    first = {
        "period_start": (today - timedelta(10)).isoformat(),
        "period_end": (today - timedelta(5)).isoformat(),
    }
    assert (
        await client.post("/api/admin/settlements", headers=admin, json=first)
    ).status_code == 201
    overlap = {
        "period_start": (today - timedelta(6)).isoformat(),
        "period_end": (today - timedelta(3)).isoformat(),
    }
    r = await client.post("/api/admin/settlements", headers=admin, json=overlap)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
    for period in (
        {"period_start": today.isoformat(), "period_end": (today + timedelta(1)).isoformat()},
        {
            "period_start": (today - timedelta(2)).isoformat(),
            "period_end": (today - timedelta(3)).isoformat(),
        },
    ):
        r = await client.post("/api/admin/settlements", headers=admin, json=period)
        assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "period_end")
    assert (await client.get("/api/admin/settlements/99", headers=admin)).status_code == 404
    assert (await client.get("/api/admin/settlements", headers=auth(7))).status_code == 403


async def test_settlement_period_before_2000_is_400(client, admin):
    """Dates before 2000 (nothing was billed then; year 1 cannot be converted) are a 400."""
    r = await client.post(
        "/api/admin/settlements",
        headers=admin,
        json={"period_start": "0001-01-01", "period_end": "0001-03-01"},
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "period_start")
