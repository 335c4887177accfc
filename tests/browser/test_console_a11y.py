"""Both pages and the console's sign-in screen (with its errors showing) in both languages and
both colour schemes: no serious or critical axe-core violation, Korean when the browser asks
for it, and a language switch that is kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.pages import DESKTOP, axe_violations
from tests.browser.test_player import wait_for

CASES = [(scheme, lang) for scheme in ("light", "dark") for lang in ("en", "ko")]


@pytest.mark.parametrize(("scheme", "lang"), CASES)
async def test_admin_console_has_no_serious_axe_violations(
    stack: Any, themed: Any, token: Any, scheme: str, lang: str
) -> None:
    """Every section rendered with data (a content, an ad, a user), then axe-core finds no
    serious or critical violation; the page is in the browser's language."""
    s = stack()
    await s.create_content("Launch trailer")
    await s.create_ad(token(40, roles=("advertiser",)), "Spring sale")
    page = await themed(s.admin_url(), DESKTOP, scheme, lang)
    await wait_for(page, "window.adminConsole.ready")
    assert await page.get_attribute("html", "lang") == lang
    heading = await page.text_content("#contents-title")
    assert heading == ("콘텐츠" if lang == "ko" else "Contents")
    found = await axe_violations(page)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("scheme", "lang"), CASES)
async def test_player_has_no_serious_axe_violations(
    stack: Any, themed: Any, token: Any, scheme: str, lang: str
) -> None:
    """The player with its catalog and a live session: no serious or critical violation."""
    s = stack()
    cid = await s.create_content("Launch trailer", tags=["demo"])
    page = await themed(s.player_url(token(21), content=cid), DESKTOP, scheme, lang)
    await wait_for(page, "window.watchPlayer.rewards.length >= 1")
    await page.wait_for_selector(f"#catalog li[data-content-id='{cid}']")
    assert await page.get_attribute("html", "lang") == lang
    found = await axe_violations(page)
    assert not found, "\n".join(found)


async def test_language_switch_is_kept_and_redraws_the_data(stack: Any, themed: Any) -> None:
    """Switching to Korean relabels the page and its data tables; a reload keeps Korean."""
    s = stack()
    await s.create_content("Launch trailer")
    page = await themed(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    assert await page.text_content("#users-title") == "Users"
    await page.select_option("#lang", "ko")
    await page.wait_for_selector("#users-title >> text=사용자")
    await wait_for(page, "window.adminConsole.ready")
    assert "제목" in (await page.text_content("#contents") or "")
    await page.reload()
    await wait_for(page, "window.adminConsole.ready")
    assert await page.get_attribute("html", "lang") == "ko"
    assert await page.input_value("#lang") == "ko"


@pytest.mark.parametrize(("scheme", "lang"), CASES)
async def test_sign_in_screen_has_no_serious_axe_violations(
    stack: Any, themed: Any, scheme: str, lang: str
) -> None:
    """The console's sign-in screen as it opens, with its field errors, and with the
    refusal of a wrong password: no serious or critical violation, in the browser's
    language."""
    s = stack()
    page = await themed(f"{s.api.url}/admin", DESKTOP, scheme, lang)
    await wait_for(page, "window.adminConsole.signInShown")
    assert await page.get_attribute("html", "lang") == lang
    assert await page.text_content("#signin-submit") == ("로그인" if lang == "ko" else "Sign in")
    assert not await axe_violations(page)
    await page.click("#signin-submit")
    await page.wait_for_selector("#signin-password-error")
    found = await axe_violations(page)
    assert not found, "\n".join(found)
    await page.fill("#signin-email", "nobody@example.com")
    await page.fill("#signin-password", "wrong password")
    await page.press("#signin-password", "Enter")
    await page.wait_for_selector("#signin-alert:not(:empty)")
    found = await axe_violations(page)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("scheme", "lang"), [("dark", "ko"), ("light", "en")])
async def test_player_sign_in_screen_has_no_serious_axe_violations(
    stack: Any, themed: Any, scheme: str, lang: str
) -> None:
    """The player's sign-in screen, with a wrong password's refusal showing."""
    s = stack()
    page = await themed(f"{s.hub.url}/player?api={s.api.url}", DESKTOP, scheme, lang)
    await wait_for(page, "window.watchPlayer.signInShown")
    await page.fill("#signin-email", "nobody@example.com")
    await page.fill("#signin-password", "wrong password")
    await page.press("#signin-password", "Enter")
    await page.wait_for_selector("#signin-alert:not(:empty)")
    wrong = (
        "이메일 또는 비밀번호가 올바르지 않습니다."
        if lang == "ko"
        else "The email or the password is not right."
    )
    assert await page.text_content("#signin-alert") == wrong
    found = await axe_violations(page)
    assert not found, "\n".join(found)
