"""A viewer put on hold for multi-account review learns, in the player and in their
language, that their rewards wait for a check (docs/money.md "What a held viewer sees"),
while the watch time goes on being credited and no reward arrives."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.test_player import ticks, wait_for


async def test_a_held_viewer_is_told_in_korean_that_rewards_wait(
    stack: Any, themed: Any, token: Any
) -> None:
    """Two other accounts open sessions from the same address first (limit 2): the page's
    viewer is the third and is held at its start by the hub's real review. The player shows
    the Korean notice; ticks credit time; no reward frame comes."""
    s = stack(REVIEW_ACCOUNTS_PER_IP="2")
    cid = await s.create_content("Clip")
    async with httpx.AsyncClient(timeout=10) as http:
        for uid in (81, 82):
            r = await http.post(
                f"{s.hub.url}/api/service/timer-session",
                json={
                    "content_id": cid,
                    "tab_id": "t",
                    "device_id": f"d{uid}",
                    "playing": True,
                    "visible": True,
                },
                headers={"Authorization": f"Bearer {token(uid)}"},
            )
            assert r.status_code == 200, r.text
    page = await themed(s.player_url(token(83), content=cid), lang="ko")
    await wait_for(
        page, "(document.querySelector('#toasts')?.textContent || '').includes('정기 계정 확인')"
    )
    # 2.5 s credited: two rewards' worth (REWARD_INTERVAL_MS 1000), none announced.
    await wait_for(
        page, "window.watchPlayer.ticks.reduce((n, t) => n + t.credited_ms, 0) >= 2500", 15
    )
    assert sum(t["credited_ms"] for t in await ticks(page)) >= 2500
    assert await page.evaluate("() => window.watchPlayer.rewards.length") == 0
