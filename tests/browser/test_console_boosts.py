"""The console's reward posts and boosts section in headless Chromium against a real stack:
a boost set on a listed content is what GET /api/rewards pays, typed in APP_TIMEZONE; a
window already over is refused on its field; End boost ends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.browser.test_console import _get
from tests.browser.test_console_missions import box
from tests.browser.test_player import wait_for


def wall(when: datetime) -> str:
    """`when` as a datetime-local value in the stack's zone (the default, Asia/Seoul)."""
    return when.astimezone(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%dT%H:%M")


async def test_a_boost_is_set_refused_and_ended(stack: Any, open_page: Any) -> None:
    s = stack()
    cid = await s.create_content("Launch trailer")
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    row = f"#boosts tr[data-content-id='{cid}']"
    await page.click(f"{row} button:has-text('Boost')")
    assert await page.input_value("#boost-content_id") == str(cid)
    await page.fill("#boost-multiplier_pct", "150")
    await page.fill("#boost-ends_at", wall(datetime.now(UTC) - timedelta(hours=1)))
    before = await box(page, "#boosts")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#boost-error >> text=must be after starts_at")
    assert await page.get_attribute("#boost-ends_at", "aria-invalid") == "true"
    assert await box(page, "#boosts") == before

    ends = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    await page.fill("#boost-ends_at", wall(ends))
    await page.click("#boost-submit")
    await page.wait_for_selector(f"{row}[data-boosted='true']")
    [post] = (await _get(s, "/api/rewards"))["items"]
    assert post["boost"]["multiplier_pct"] == 150 and post["boost"]["active"] is True
    assert datetime.fromisoformat(post["boost"]["ends_at"]) == ends
    assert post["amount"] == post["base_amount"] * 150 // 100

    await page.click(f"{row} button:has-text('End boost')")
    await page.wait_for_selector(f"{row}[data-boosted='false']")
    [post] = (await _get(s, "/api/rewards"))["items"]
    assert (post["boost"], post["amount"]) == (None, post["base_amount"])
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions[:2] == ["content.unboost", "content.boost"]
