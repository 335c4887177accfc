"""The console's staff accounts section in headless Chromium against a real stack: an
invitation made on the page gives a token that the invitee trades for a password; a
created account is re-roled and disabled; a taken email is refused on the form."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.test_console import _get
from tests.browser.test_console_missions import box
from tests.browser.test_player import wait_for


async def test_staff_are_invited_created_re_roled_and_disabled(stack: Any, open_page: Any) -> None:
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.fill("#account-email", "ads@example.test")
    await page.click("#account-submit")  # no password: an invitation
    await page.wait_for_selector("#account-invite-token")
    invite = await page.input_value("#account-invite-token")
    [made] = [a for a in (await _get(s, "/api/admin/accounts"))["items"] if a["email"]]
    assert (made["email"], made["roles"], made["has_password"]) == (
        "ads@example.test",
        ["advertiser"],
        False,
    )
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{s.api.url}/api/auth/invite",
            json={"invite_token": invite, "password": "a long secret"},
        )
    assert r.status_code == 200, r.text

    before = await box(page, "#accounts")
    await page.fill("#account-email", "ads@example.test")
    await page.click("#account-submit")
    await page.wait_for_selector("#account-error >> text=already registered")
    assert await page.get_attribute("#account-email", "aria-invalid") == "true"
    assert await box(page, "#accounts") == before

    await page.fill("#account-email", "boss@example.test")
    await page.check("#account-role-admin")
    await page.uncheck("#account-role-advertiser")
    await page.fill("#account-password", "another secret")
    await page.click("#account-submit")
    await page.wait_for_selector("#accounts-status >> text=created")
    staff = {a["email"]: a for a in (await _get(s, "/api/admin/accounts"))["items"]}
    boss = staff["boss@example.test"]
    assert (boss["roles"], boss["has_password"]) == (["admin"], True)
    assert staff["ads@example.test"]["has_password"] is True

    row = f"#accounts tr[data-account-id='{boss['id']}']"
    await page.click(f"{row} button:has-text('Roles')")
    await page.check("#account-role-advertiser")
    await page.click("#account-submit")
    await page.wait_for_selector("#accounts-status >> text=now has")
    await page.click(f"{row} button:has-text('Disable')")
    await page.wait_for_selector(f"{row}[data-blocked='true']")
    staff = {a["email"]: a for a in (await _get(s, "/api/admin/accounts"))["items"]}
    assert (staff["boss@example.test"]["roles"], staff["boss@example.test"]["blocked"]) == (
        ["advertiser", "admin"],
        True,
    )
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions[:4] == ["user.block", "account.roles", "account.create", "account.invite"]
