"""The console's gold box sections in headless Chromium against a real stack: the rules
saved on the page are the api's (a refused value is said under the form), and the gold box
table is uploaded like the box table, apart from it."""

from __future__ import annotations

from typing import Any

from tests.browser.test_console import _get
from tests.browser.test_player import wait_for


async def test_gold_box_rules_and_table(stack: Any, open_page: Any) -> None:
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    assert await _get(s, "/api/admin/gold-box/rules") == {"enabled": False, "boxes_per_gold": 0}
    await page.check("#gold-enabled")
    await page.fill("#gold-boxes_per_gold", "2000000")  # above the api's bound
    await page.click("#gold-save")
    await page.wait_for_selector("#gold-error >> text=boxes_per_gold")
    assert await page.get_attribute("#gold-boxes_per_gold", "aria-invalid") == "true"
    await page.fill("#gold-boxes_per_gold", "10")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#gold-status >> text=one per 10")
    assert await _get(s, "/api/admin/gold-box/rules") == {"enabled": True, "boxes_per_gold": 10}
    assert await page.get_attribute("#gold-boxes_per_gold", "aria-invalid") is None

    await page.fill("#gold-table-csv", "amount,weight\n100,1\nlots,1\n")
    await page.click("#gold-table-upload")
    await page.wait_for_selector("#gold-table-refusal:not(.hidden) .refused-line[data-line='3']")
    await page.fill("#gold-table-csv", "amount,weight\n100,9\n1000,1\n")
    await page.click("#gold-table-upload")
    await page.wait_for_selector("#gold-table-status >> text=in force")
    table = await _get(s, "/api/admin/gold-box/reward-table")
    assert [(r["amount"], r["weight"]) for r in table["rows"]] == [(100, 9), (1000, 1)]
    assert await _get(s, "/api/admin/reward-table") is None  # the box table is another one
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions == ["gold_box.upload", "gold_box.rules"]
