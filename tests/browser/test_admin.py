"""The admin console (web/admin.*, served by the api at /admin) in headless Chromium."""

from __future__ import annotations

import httpx

from tests.browser.conftest import screenshot
from tests.browser.test_player import wait_for


async def test_admin_console_blocks_a_user_and_the_player_is_closed(
    stack, open_page, token, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The console shows the live session, blocks its user, and that user's player is closed
    with 4503 and says so; the block lands in the audit log."""
    s = stack()
    cid = await s.create_content("Launch trailer", tags=["demo"])
    await s.create_ad(token(40, roles=("advertiser",)), "Spring sale preroll")
    player = await open_page(s.player_url(token(21), content=cid))
    await wait_for(player, "window.watchPlayer.rewards.length >= 1")

    admin = await open_page(s.admin_url())
    await wait_for(admin, "window.adminConsole.ready")
    # Live view: the session and its content, refreshed by the page itself.
    await admin.wait_for_selector(f"#live tr[data-content-id='{cid}']")
    assert await admin.text_content("#sessions-live") == "1"
    assert await admin.text_content("#auth-state") == "admin"
    settings = await admin.evaluate("() => window.adminConsole.loaded.settings")
    assert settings["reward_interval_ms"] == 1000
    assert await admin.input_value("#settings [name=reward_interval_ms]") == "1000"

    await admin.fill("#user-id", "21")
    await admin.fill("#user-reason", "browser test")
    await admin.click("#block")
    await admin.wait_for_selector("#block-result[data-blocked='true']")

    await player.wait_for_selector("#banner:not(.hidden) >> text=Blocked", timeout=8000)
    assert await player.get_attribute("#state", "data-code") == "4503"
    assert "4503" in (await player.text_content("#state") or "")

    await admin.wait_for_selector("#audit tr[data-action='user.block']")
    await admin.fill("#user-q", "21")
    await admin.click("#user-search")
    await admin.wait_for_selector("#users tr[data-user-id='21'] >> text=blocked")
    await screenshot(admin, "admin", tmp_path)


async def test_admin_console_approves_an_ad_and_changes_a_runtime_setting(
    stack, open_page, token
) -> None:  # type: ignore[no-untyped-def]
    """An ad approved in the queue leaves it; saving the settings form sends only the changed
    key, and the api applies it. Both land in the audit log."""
    s = stack()
    advertiser = token(41, roles=("advertiser",))
    first = await s.create_ad(advertiser, "Ad one")
    second = await s.create_ad(advertiser, "Ad two")
    admin = await open_page(s.admin_url())
    await wait_for(admin, "window.adminConsole.ready")
    await admin.click(f"#ads tr[data-ad-id='{first}'] button:has-text('Approve')")
    await admin.wait_for_selector(f"#ads tr[data-ad-id='{first}']", state="detached")
    await admin.wait_for_selector(f"#ads tr[data-ad-id='{second}']")
    await admin.wait_for_selector("#audit tr[data-action='ad.approve']")

    await admin.fill("#settings [name=reward_amount]", "25")
    await admin.click("#settings-save")
    await admin.wait_for_selector("#settings-status >> text=saved reward_amount")
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{s.api.url}/api/admin/settings", headers={"Authorization": f"Bearer {s.admin_token}"}
        )
    assert r.json()["data"]["reward_amount"] == 25
    await admin.wait_for_selector("#audit tr[data-action='settings.update']")
    # An empty live view reads as such, not as an error.
    assert "Nobody is watching" in (await admin.text_content("#live") or "")


async def test_admin_console_with_a_viewer_token_says_it_is_refused(
    stack, open_page, token
) -> None:  # type: ignore[no-untyped-def]
    """A token without the admin role is refused, and each panel says so instead of failing."""
    s = stack()
    page = await open_page(f"{s.api.url}/admin#token={token(30)}")
    await wait_for(page, "window.adminConsole.ready")
    assert "token refused (403)" in (await page.text_content("#auth-state") or "")
    assert "The token was refused" in (await page.text_content("#live") or "")


async def test_admin_console_approves_an_account_on_review(stack, open_page, engine) -> None:  # type: ignore[no-untyped-def]
    """The review panel lists an account on hold with its held coins; Approve pays them
    (the row leaves the queue, the balance grows) and lands in the audit log."""
    from sqlalchemy import text

    s = stack()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO users (id, review_hold) OVERRIDING SYSTEM VALUE VALUES (77, true)")
        )
        await conn.execute(
            text(
                "INSERT INTO account_reviews (flag_id, user_id, reason, key,"
                " accounts) VALUES ('f:77:1', 77, 'device', 'tv-9', 5)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO coin_transactions (user_id, kind, amount, reward_id,"
                " status) VALUES (77, 'watch', 10, 'w:77:1:1', 'held'),"
                " (77, 'watch', 10, 'w:77:1:2', 'held')"
            )
        )
    admin = await open_page(s.admin_url())
    await wait_for(admin, "window.adminConsole.ready")
    row = "#reviews tr[data-review-user='77']"
    await admin.wait_for_selector(f"{row} >> text=tv-9")
    assert "20" in (await admin.text_content(row) or "")
    await admin.click(f"{row} button:has-text('Approve')")
    await admin.wait_for_selector(row, state="detached")
    await admin.wait_for_selector("#reviews-status >> text=20 coins paid")
    await admin.wait_for_selector("#audit tr[data-action='review.approve']")
    async with engine.connect() as conn:
        balance = (await conn.execute(text("SELECT balance FROM users WHERE id = 77"))).scalar()
    assert balance == 20
