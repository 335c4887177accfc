"""The console's advertiser payments section in headless Chromium against a real stack: a
manual credit made on the page reaches the wallet once, even when its answer is lost and
the admin sends it again (the form keeps its Idempotency-Key); the payments view lists the
gateway's payments by advertiser and status."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.browser.test_console import _get
from tests.browser.test_console_missions import box
from tests.browser.test_player import wait_for


async def test_a_manual_credit_lands_once_and_payments_are_listed(
    stack: Any, open_page: Any, token: Any, engine: Any
) -> None:
    s = stack()
    advertiser = token(40, roles=("advertiser",))
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")

    await page.fill("#credit-advertiser_id", "40")
    await page.fill("#credit-amount_micros", "250.5")
    before = await box(page, "#payments")
    await page.fill("#credit-reference", "bank transfer 2026-12-04 #17")

    lost: list[str] = []

    async def lose_the_answer(route: Any) -> None:
        await route.fetch()  # the api credits...
        lost.append(route.request.headers["idempotency-key"])
        await route.abort()  # ...and the page never hears it

    await page.route("**/api/admin/wallets/40/credits", lose_the_answer)
    await page.click("#credit-submit")
    await page.wait_for_selector("#credit-error >> text=refused")
    assert await box(page, "#payments") == before
    await page.unroute("**/api/admin/wallets/40/credits")
    await page.click("#credit-submit")  # sent again: the same key
    await page.wait_for_selector("#payments-status >> text=credited")
    assert (
        await page.evaluate("() => window.adminConsole.loaded.credit.ref") == f"credit:40:{lost[0]}"
    )

    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{s.api.url}/api/advertiser/wallet",
            headers={"Authorization": f"Bearer {advertiser}"},
        )
    assert r.json()["data"]["balance_micros"] == 250_500_000  # credited once
    [entry] = (await _get(s, "/api/admin/audit-log?action=wallet.credit"))["items"]
    assert entry["after"]["reference"] == "bank transfer 2026-12-04 #17"

    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO payments (order_id, advertiser_id, idempotency_key, amount_micros,"
                " expires_at) VALUES ('ord_console', 40, 'k1', 10000000000,"
                " now() + interval '1 hour')"
            )
        )
    await page.fill("#payments-advertiser", "40")
    await page.select_option("#payments-state", "pending")
    await page.wait_for_selector("#payments tr[data-status='pending'] >> text=ord_console")
    [shown] = await page.evaluate("() => window.adminConsole.loaded.payments")
    assert (shown["order_id"], shown["advertiser_id"]) == ("ord_console", 40)
    await page.select_option("#payments-state", "paid")
    await page.wait_for_selector("#payments tr[data-payment-id]", state="detached")
