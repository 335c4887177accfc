"""Both pages and the console's sign-in screen (with its errors showing) in both languages and
both colour schemes: no serious or critical axe-core violation, Korean when the browser asks
for it, and a language switch that is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import screenshot
from tests.browser.pages import DESKTOP, PHONE, axe_violations, overflow_x
from tests.browser.test_player import wait_for
from tests.youtube.conftest import KEY, VIDEO

CASES = [(scheme, lang) for scheme in ("light", "dark") for lang in ("en", "ko")]


async def _seed(s: Any, advertiser: str) -> None:
    """Data for the sections that draw lists: a mission, a help category and article, a
    staff account, a boost, a gold box table, a credited wallet and a withdrawal from it, a
    YouTube import, a user event (a block)."""
    cid = await s.create_content("Launch trailer", tags=["demo"])
    ends = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    mission = {
        "title": "Watch 10 minutes",
        "kind": "watch_minutes",
        "target": 10,
        "period": "daily",
        "reward_kind": "coins",
        "reward_amount": 5,
    }
    admin = {"Authorization": f"Bearer {s.admin_token}"}
    async with httpx.AsyncClient(base_url=s.api.url, headers=admin) as http:
        calls = [
            http.post("/api/admin/missions", json=mission),
            http.post(
                "/api/admin/accounts", json={"email": "ads@example.test", "roles": ["advertiser"]}
            ),
            http.put(
                f"/api/admin/contents/{cid}/boost", json={"multiplier_pct": 150, "ends_at": ends}
            ),
            http.post(
                "/api/admin/gold-box/reward-table",
                content="amount,weight\n100,1\n",
                headers={"Content-Type": "text/csv"},
            ),
            http.post(
                "/api/admin/wallets/40/credits",
                json={"amount_micros": 10**6, "reference": "t"},
                headers={"Idempotency-Key": "a11y"},
            ),
            http.post("/api/admin/youtube/imports", json={"source": VIDEO}),
            http.post("/api/admin/users/21/block", json={"reason": "a11y"}),
        ]
        for call in calls:
            r = await call
            assert r.status_code in (200, 201), r.text
        # a pending withdrawal (its row carries a note field and the decision buttons)
        adv = {"Authorization": f"Bearer {advertiser}"}
        r = await http.post(
            "/api/advertiser/wallet/withdrawals",
            json={"amount_micros": 10**6, "bank_account": "KB 1"},
            headers={**adv, "Idempotency-Key": "a11y"},
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            "/api/admin/help/categories", json={"slug": "rewards", "title_ko": "보상"}
        )
        assert r.status_code == 201, r.text
        article = {
            "category_id": r.json()["data"]["id"],
            "question_ko": "언제?",
            "answer_ko": "지금.",
        }
        assert (await http.post("/api/admin/help/articles", json=article)).status_code == 201


@pytest.mark.parametrize(("scheme", "lang"), CASES)
async def test_admin_console_has_no_serious_axe_violations(
    stack: Any, themed: Any, token: Any, spawn: Any, scheme: str, lang: str
) -> None:
    """Every section rendered with data (a content, an ad, a user, and what _seed makes),
    and a form showing a refusal: axe-core finds no serious or critical violation; the page
    is in the browser's language."""
    youtube = spawn("devkit.servers.youtube:app").url + "/youtube/v3"
    s = stack(YOUTUBE_API_KEY=KEY, YOUTUBE_API_URL=youtube)
    await s.create_ad(token(40, roles=("advertiser",)), "Spring sale")
    await _seed(s, token(40, roles=("advertiser",)))
    page = await themed(s.admin_url(), DESKTOP, scheme, lang)
    await wait_for(page, "window.adminConsole.ready")
    assert await page.get_attribute("html", "lang") == lang
    heading = await page.text_content("#contents-title")
    assert heading == ("콘텐츠" if lang == "ko" else "Contents")
    for selector in (
        "#missions tr[data-mission-id]",
        "#accounts tr[data-account-id]",
        "#tags tr[data-tag='demo']",
        "#youtube-jobs tr[data-job-id]",
        "#help tr[data-article-id]",
        "#boosts tr[data-boosted='true']",
        "#gold-table table",
        "#events tr[data-event-id]",
    ):
        assert await page.query_selector(selector), selector
    await page.fill("#tag-tag", "demo")  # onto itself: refused, the field marked
    await page.fill("#tag-to", "demo")
    await page.click("#tag-rename")
    await page.wait_for_selector("#tag-rename-error:not(:empty)")
    assert await page.get_attribute("#tag-to", "aria-invalid") == "true"
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


async def test_admin_console_fits_a_phone(
    stack: Any, themed: Any, spawn: Any, token: Any, tmp_path: Path
) -> None:
    """At a phone's width, with every section drawn, nothing makes the page scroll
    sideways: wide tables scroll inside their panels, forms wrap."""
    youtube = spawn("devkit.servers.youtube:app").url + "/youtube/v3"
    s = stack(YOUTUBE_API_KEY=KEY, YOUTUBE_API_URL=youtube)
    await _seed(s, token(40, roles=("advertiser",)))
    page = await themed(s.admin_url(), PHONE)
    await wait_for(page, "window.adminConsole.ready")
    await page.wait_for_selector("#missions tr[data-mission-id]")
    assert await overflow_x(page) == 0
    await screenshot(page, "admin-phone", tmp_path)  # docs/screenshots/admin-phone.png


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
