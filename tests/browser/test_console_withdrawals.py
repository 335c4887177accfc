"""The console's withdrawals section and the settlement CSV, in headless Chromium against a
real stack: a pending withdrawal is rejected on the page and its amount is back in the
wallet once, another is approved with its transfer reference; a settlement downloads as the
api's CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.browser.test_console import _get
from tests.browser.test_player import wait_for

KRW = 1_000_000


async def _api(s: Any, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    async with httpx.AsyncClient() as http:
        r = await http.request(method, f"{s.api.url}{path}", headers=headers, **kw)
    assert r.is_success, r.text
    return r.json()["data"]


async def test_withdrawals_are_decided_on_the_page(stack: Any, open_page: Any, token: Any) -> None:
    s = stack()
    admin = {"Authorization": f"Bearer {s.admin_token}"}
    adv = {"Authorization": f"Bearer {token(41, roles=('advertiser',))}"}
    await _api(s, "GET", "/api/advertiser/wallet", adv)  # the wallet exists
    await _api(
        s,
        "POST",
        "/api/admin/wallets/41/credits",
        {**admin, "Idempotency-Key": "fund"},
        json={"amount_micros": 900_000 * KRW, "reference": "bank"},
    )
    asked = []
    for key, krw in (("a", 200_000), ("b", 300_000)):  # both above the approval limit
        asked.append(
            await _api(
                s,
                "POST",
                "/api/advertiser/wallet/withdrawals",
                {**adv, "Idempotency-Key": key},
                json={"amount_micros": krw * KRW, "bank_account": "KB 123-45 Hong"},
            )
        )
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    first, second = asked
    await page.wait_for_selector(f"#withdrawals tr[data-withdrawal-id='{first['id']}']")

    await page.click(f"#withdrawal-reject-{first['id']}")  # no note: refused on the page
    await page.wait_for_selector("#withdrawals-error >> text=reason")
    assert await page.get_attribute(f"#withdrawal-note-{first['id']}", "aria-invalid") == "true"
    await page.fill(f"#withdrawal-note-{first['id']}", "holder differs")
    await page.click(f"#withdrawal-reject-{first['id']}")
    await page.wait_for_selector(
        f"#withdrawals tr[data-withdrawal-id='{first['id']}']", state="detached"
    )
    await page.fill(f"#withdrawal-note-{second['id']}", "KB transfer #88")
    await page.press(f"#withdrawal-note-{second['id']}", "Tab")
    await page.keyboard.press("Enter")  # the keyboard reaches Approve
    await page.wait_for_selector("#withdrawals >> text=No withdrawal here.")

    wallet = await _api(s, "GET", "/api/advertiser/wallet", adv)
    assert (wallet["balance_micros"], wallet["withdrawn_micros"]) == (600_000 * KRW, 300_000 * KRW)
    decided = {
        w["id"]: (w["status"], w["note"])
        for w in (await _get(s, "/api/admin/withdrawals"))["items"]
    }
    assert decided == {
        first["id"]: ("rejected", "holder differs"),
        second["id"]: ("approved", "KB transfer #88"),
    }
    actions = [e["action"] for e in (await _get(s, "/api/admin/audit-log?limit=50"))["items"]]
    assert {"withdrawal.reject", "withdrawal.approve"} <= set(actions)


async def test_a_settlement_downloads_as_csv(stack: Any, open_page: Any, tmp_path: Path) -> None:
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.fill("#settle-start", "2026-01-01")
    await page.fill("#settle-end", "2026-02-01")
    await page.click("#settle-create")
    await page.wait_for_selector("#settlement-csv")
    async with page.expect_download() as info:
        await page.click("#settlement-csv")
    download = await info.value
    [settled] = (await _get(s, "/api/admin/settlements"))["items"]
    assert download.suggested_filename == f"settlement-{settled['id']}.csv"
    saved = tmp_path / "s.csv"
    await download.save_as(saved)
    assert (
        saved.read_bytes()
        .decode("utf-8-sig")
        .splitlines()[0]
        .startswith("settlement_id,period_start,period_end,status,advertiser_id")
    )
