"""The console's missions section in headless Chromium against a real stack: a mission made
on the page is the api's, its window typed in APP_TIMEZONE; a refusal shows the envelope's
message under the form without moving the list; pause and delete reach the api."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.browser.test_console import _get
from tests.browser.test_player import wait_for


async def box(page: Any, selector: str) -> dict[str, float]:
    """Where `selector` is in the document (not the viewport: a click may scroll)."""
    found = await page.eval_on_selector(
        selector,
        "n => { const r = n.getBoundingClientRect(); return {y: r.y + scrollY, h: r.height}; }",
    )
    return dict(found)


async def test_missions_are_created_refused_paused_and_deleted(stack: Any, open_page: Any) -> None:
    s = stack(APP_TIMEZONE="America/New_York")
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    assert "America/New_York" in (await page.text_content("label[for='mission-starts_at']") or "")
    await page.fill("#mission-title", "Week of rain")
    await page.select_option("#mission-kind", "watch_tag_minutes")
    await page.fill("#mission-target", "30")
    await page.select_option("#mission-period", "range")
    await page.fill("#mission-tag", "weather")
    await page.fill("#mission-starts_at", "2026-12-10T09:00")
    await page.fill("#mission-ends_at", "2026-12-10T08:00")  # before the start: refused
    await page.fill("#mission-reward_amount", "50")
    before = await box(page, "#missions")
    await page.click("#mission-submit")
    await page.wait_for_selector("#mission-error >> text=must be after starts_at")
    assert await box(page, "#missions") == before  # the refusal moved nothing
    assert await page.get_attribute("#mission-ends_at", "aria-invalid") == "true"
    assert await page.get_attribute("#mission-ends_at", "aria-describedby") == "mission-error"
    assert (await _get(s, "/api/admin/missions"))["items"] == []

    await page.fill("#mission-ends_at", "2026-12-17T09:00")
    await page.keyboard.press("Enter")  # the form submits from the keyboard
    await page.wait_for_selector("#missions-status >> text=created")
    assert await page.get_attribute("#mission-ends_at", "aria-invalid") is None
    [made] = (await _get(s, "/api/admin/missions"))["items"]
    m = made["mission"]
    assert (m["title"], m["kind"], m["tag"], m["target"], m["reward_amount"]) == (
        "Week of rain",
        "watch_tag_minutes",
        "weather",
        30,
        50,
    )
    # 09:00 in New York in December is 14:00 UTC (the browser's own zone is not used)
    assert datetime.fromisoformat(m["starts_at"]) == datetime(2026, 12, 10, 14, tzinfo=UTC)
    assert datetime.fromisoformat(m["ends_at"]) == datetime(2026, 12, 17, 14, tzinfo=UTC)
    row = f"#missions tr[data-mission-id='{m['id']}']"
    assert "10/12/2026, 09:00:00" in (await page.text_content(row) or "")

    await page.click(f"{row} button:has-text('Edit')")
    assert await page.input_value("#mission-starts_at") == "2026-12-10T09:00"
    await page.fill("#mission-title", "Week of snow")
    await page.click("#mission-submit")
    await page.wait_for_selector("#missions-status >> text=saved")
    await page.click(f"{row} button:has-text('Pause')")
    await page.wait_for_selector(f"{row}[data-status='paused']")
    [after] = (await _get(s, "/api/admin/missions"))["items"]
    assert (after["mission"]["title"], after["mission"]["status"]) == ("Week of snow", "paused")
    assert after["mission"]["starts_at"] == m["starts_at"]

    await page.click(f"{row} button:has-text('Delete')")
    await page.wait_for_selector(row, state="detached")
    assert (await _get(s, "/api/admin/missions"))["items"] == []
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions == ["mission.delete", "mission.update", "mission.update", "mission.create"]
