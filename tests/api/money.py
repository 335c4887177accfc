"""Helpers of the box, ad and advertiser tests: rows written straight to PostgreSQL where a
test needs history (watch rewards granted by the hub), and the common api steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

# Spawned api processes for the concurrency tests: limits out of the way (they are tested
# elsewhere), everything else at its defaults.
FAST_ENV = {"RATE_LIMIT_PER_MINUTE": "1000000", "ADMIN_RATE_LIMIT_PER_MINUTE": "1000000"}

CPM_AD = {
    "title": "Shoes",
    "creative_url": "https://cdn.example/shoes.mp4",
    "click_url": "https://shop.example/shoes",
    "placement": "preroll",
    "billing": "cpm",
    "price_micros": 2_000_000,
    "budget_micros": 1_000_000_000,
    # No exposure to wait for, unless a test is about it: the server's clock decides.
    "required_view_ms": 0,
}


async def grant_watch_rewards(engine: Any, user_id: int, n: int) -> None:
    """`n` watch rewards in the ledger, as the outbox consumer would have written them."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id) OVERRIDING SYSTEM VALUE VALUES (:u) ON CONFLICT DO NOTHING"
            ),
            {"u": user_id},
        )
        have = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM coin_transactions WHERE user_id = :u AND kind = 'watch'"
                ),
                {"u": user_id},
            )
        ).scalar_one()
        await conn.execute(
            text(
                "INSERT INTO coin_transactions (user_id, kind, amount, reward_id, content_id)"
                " VALUES (:u, 'watch', 10, :r, 1)"
            ),
            [{"u": user_id, "r": f"w:{user_id}:1:{have + i}"} for i in range(1, n + 1)],
        )
        await conn.execute(
            text(
                "UPDATE users SET balance = balance + 10 * :n, balance_version = balance_version + 1"
                " WHERE id = :u"
            ),
            {"u": user_id, "n": n},
        )


async def scalar(engine: Any, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def rows(engine: Any, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def upload_table(http: Any, admin: dict[str, str], csv: str, base: str = "") -> Any:
    r = await http.post(
        f"{base}/api/admin/reward-table",
        content=csv.encode(),
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def live_ad(
    http: Any,
    admin: dict[str, str],
    advertiser: dict[str, str],
    *,
    wallet: int = 0,
    base: str = "",
    **fields: Any,
) -> dict[str, Any]:
    """An approved ad of `advertiser`, whose wallet was charged `wallet` micros."""
    r = await http.post(f"{base}/api/advertiser/ads", json={**CPM_AD, **fields}, headers=advertiser)
    assert r.status_code == 201, r.text
    ad = r.json()["data"]
    r = await http.post(f"{base}/api/admin/ads/{ad['id']}/approve", headers=admin)
    assert r.status_code == 200, r.text
    if wallet:
        await charge(http, advertiser, wallet, base=base)
    return r.json()["data"]


def _admin_headers() -> dict[str, str]:
    from core.settings import Settings
    from core.tokens import issue_access
    from tests.conftest import TEST_JWT_SECRET

    settings = Settings(
        database_url="postgresql+asyncpg://unused",
        redis_url="redis://unused",
        redis_cluster=False,
        arq_redis_url="redis://unused",
        jwt_secret=TEST_JWT_SECRET,
    )
    return {"Authorization": f"Bearer {issue_access(settings, 1, ('admin',), ttl_s=3600)}"}


def _user_of(headers: dict[str, str]) -> int:
    import base64
    import json

    payload = headers["Authorization"].split()[1].split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "==="))["sub"])


async def charge(
    http: Any, advertiser: dict[str, str], amount: int, key: str | None = None, base: str = ""
) -> Any:
    """Fund the advertiser's wallet with `amount` micros by an admin's manual credit (a bank
    transfer: any micros, credited at once); gateway payments are tests/api/test_payments.py's."""
    import uuid

    headers = {**_admin_headers(), "Idempotency-Key": key or uuid.uuid4().hex}
    r = await http.post(
        f"{base}/api/admin/wallets/{_user_of(advertiser)}/credits",
        json={"amount_micros": amount, "reference": "test transfer"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def served_token(
    http: Any,
    viewer: dict[str, str],
    ad_id: int,
    placement: str = "preroll",
    content_id: int | None = None,
    base: str = "",
) -> str:
    """The impression token GET /api/ads hands `viewer` for the (one live) ad `ad_id`."""
    query = f"placement={placement}" + (f"&content_id={content_id}" if content_id else "")
    r = await http.get(f"{base}/api/ads?{query}", headers=viewer)
    assert r.status_code == 200 and r.json()["data"]["id"] == ad_id, r.text
    return str(r.json()["data"]["impression_id"])


async def impression(
    http: Any,
    viewer: dict[str, str],
    ad_id: int,
    impression_id: str,
    viewed_ms: int = 5000,
    base: str = "",
) -> Any:
    return await http.post(
        f"{base}/api/ads/{ad_id}/impressions",
        headers=viewer,
        json={"impression_id": impression_id, "viewed_ms": viewed_ms},
    )


async def ledger_is_consistent(engine, advertiser_id):
    """The advertiser-money oracle: wallet balance == the sum of its ledger, each row's
    balance_after chains and never goes below zero, ad debits == the ads' spend, and the
    withdrawals' rows are the withdrawals (each taken once, put back once when rejected).
    Returns (balance, ad debits) for the test to compare with what it billed."""
    entries = await rows(
        engine,
        "SELECT amount_micros, balance_after_micros, kind FROM"
        " wallet_transactions WHERE advertiser_id = :a ORDER BY id",
        a=advertiser_id,
    )
    running = 0
    for amount, after, _ in entries:
        running += amount
        assert after == running >= 0
    withdrawals = await rows(
        engine,
        "SELECT w.amount_micros, t.amount_micros, r.amount_micros, w.status FROM withdrawals w"
        " JOIN wallet_transactions t ON t.id = w.transaction_id"
        " LEFT JOIN wallet_transactions r ON r.id = w.reversal_id WHERE w.advertiser_id = :a",
        a=advertiser_id,
    )
    for amount, taken, returned, status in withdrawals:
        assert (taken, returned) == (-amount, amount if status == "rejected" else None)
    moved = [(a, k) for a, _, k in entries if k in ("withdrawal", "reversal")]
    assert len(moved) == len(withdrawals) + sum(1 for w in withdrawals if w[3] == "rejected")
    balance = await scalar(
        engine,
        "SELECT balance_micros FROM advertiser_wallets WHERE advertiser_id = :a",
        a=advertiser_id,
    )
    spent = await scalar(
        engine,
        "SELECT COALESCE(sum(spent_micros), 0) FROM ads WHERE advertiser_id = :a",
        a=advertiser_id,
    )
    debits = -sum(a for a, _, k in entries if k in ("impression", "click"))
    assert balance == running and debits == spent
    return balance, debits


async def show(
    http: Any, viewer: dict[str, str], ad_id: int, placement: str = "preroll", base: str = ""
) -> str:
    """Serve `viewer` the (one live) ad `ad_id` of `placement` and report its impression;
    returns the token (for a click)."""
    token = await served_token(http, viewer, ad_id, placement, base=base)
    r = await impression(http, viewer, ad_id, token, base=base)
    assert r.status_code == 200, r.text
    return token
