"""The console's user events section in headless Chromium against a real stack: the events
the api wrote are listed, filtered by user and type, and by a window typed in
APP_TIMEZONE."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.test_player import wait_for


async def test_user_events_are_filtered(stack: Any, open_page: Any) -> None:
    s = stack()
    admin = {"Authorization": f"Bearer {s.admin_token}"}
    async with httpx.AsyncClient(base_url=s.api.url, headers=admin) as http:
        for user in (21, 22):
            r = await http.post(f"/api/admin/users/{user}/block", json={"reason": "test"})
            assert r.status_code == 200, r.text
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.wait_for_selector("#events tr[data-type='block']")
    await page.fill("#events-user_id", "22")
    await page.select_option("#events-type", "block")
    await page.click("#events-apply")
    await wait_for(page, "window.adminConsole.loaded.userEvents.every(e => e.user_id === 22)")
    shown = await page.evaluate("() => window.adminConsole.loaded.userEvents")
    assert [(e["user_id"], e["type"]) for e in shown] == [(22, "block")]

    await page.fill("#events-until", "2020-01-01T00:00")  # before anything: none
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#events >> text=No event matches")
    await page.fill("#events-until", "")
    await page.fill("#events-since", "2999-01-01T00:00")  # the api's years, still none
    await page.click("#events-apply")
    await page.wait_for_selector("#events >> text=No event matches")
