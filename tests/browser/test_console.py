"""The admin console's sections against a real stack, in headless Chromium: what an admin
does on the page lands in the api (read back through it) and in the audit log."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.test_player import wait_for
from tests.support.waiting import wait_until


async def _get(s: Any, path: str) -> Any:
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{s.api.url}{path}", headers={"Authorization": f"Bearer {s.admin_token}"}
        )
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_contents_are_created_edited_deleted_and_restored(stack: Any, open_page: Any) -> None:
    """The content form creates a draft; Edit changes only its title; Delete takes it out of
    the list; shown with the deleted ones, Restore brings it back. Each step is audited."""
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.fill("#content-title", "Rainy day")
    await page.fill("#content-source_url", "https://example.test/rain.mp4")
    await page.fill("#content-duration_s", "90")
    await page.fill("#content-tags", "weather, calm")
    await page.select_option("#content-status", "draft")
    await page.click("#content-submit")
    await page.wait_for_selector("#contents-status >> text=created")
    [made] = (await _get(s, "/api/admin/contents?state=all"))["items"]
    assert (made["title"], made["status"], made["tags"]) == (
        "Rainy day",
        "draft",
        ["weather", "calm"],
    )
    row = f"#contents tr[data-content-id='{made['id']}']"

    await page.click(f"{row} button:has-text('Edit')")
    await page.fill("#content-title", "Rainy afternoon")
    await page.click("#content-submit")
    await page.wait_for_selector("#contents-status >> text=saved")

    await page.click(f"{row} button:has-text('Delete')")
    await page.wait_for_selector(row, state="detached")
    await page.select_option("#contents-state", "deleted")
    await page.click(f"{row} button:has-text('Restore')")
    await page.wait_for_selector("#contents-status >> text=restored")
    [after] = (await _get(s, "/api/admin/contents?state=all"))["items"]
    assert (after["title"], after["deleted_at"]) == ("Rainy afternoon", None)
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions == ["content.restore", "content.delete", "content.update", "content.create"]


async def test_a_refused_reward_table_shows_the_refused_line(stack: Any, open_page: Any) -> None:
    """A CSV with a bad line is refused: the page shows that line with its number and marks
    the field invalid; the table in force stays. A good CSV then becomes the table."""
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.fill("#rewards-csv", "amount,weight\n10,70\nten,5\n")
    await page.click("#rewards-upload")
    await page.wait_for_selector("#rewards-refusal:not(.hidden) .refused-line[data-line='3']")
    assert "ten,5" in (await page.text_content("#rewards-refusal .refused-line") or "")
    assert await page.get_attribute("#rewards-csv", "aria-invalid") == "true"
    described = await page.get_attribute("#rewards-csv", "aria-describedby")
    assert described and await page.text_content(f"#{described}")
    assert (await _get(s, "/api/admin/reward-table")) is None

    await page.fill("#rewards-csv", "amount,weight\n10,70\n50,30\n")
    await page.click("#rewards-upload")
    await page.wait_for_selector("#rewards-status >> text=in force")
    table = await _get(s, "/api/admin/reward-table")
    assert [(r["amount"], r["weight"]) for r in table["rows"]] == [(10, 70), (50, 30)]
    assert await page.get_attribute("#rewards-csv", "aria-invalid") is None


async def test_ip_blocks_and_settlements(stack: Any, open_page: Any) -> None:
    """A network is blocked and unblocked from the page; a settlement is drafted for a period
    and confirmed. The api agrees at each step."""
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.fill("#ip-cidr", "203.0.113.0/24")
    await page.fill("#ip-reason", "scraper")
    await page.click("#ip-add")
    await page.wait_for_selector("#ipblocks tr[data-cidr='203.0.113.0/24']")
    assert [b["cidr"] for b in (await _get(s, "/api/admin/ip-blocks"))["items"]] == [
        "203.0.113.0/24"
    ]
    await page.click("#ipblocks tr[data-cidr='203.0.113.0/24'] button")
    await page.wait_for_selector("#ipblocks tr[data-cidr='203.0.113.0/24']", state="detached")
    assert (await _get(s, "/api/admin/ip-blocks"))["items"] == []

    await page.fill("#settle-start", "2026-01-01")
    await page.fill("#settle-end", "2026-02-01")
    await page.click("#settle-create")
    await page.wait_for_selector("#settlements tr[data-status='draft']")
    await page.click("#settlements tr[data-status='draft'] button:has-text('Confirm')")
    await page.wait_for_selector("#settlements tr[data-status='confirmed']")
    [settled] = (await _get(s, "/api/admin/settlements"))["items"]
    assert (settled["period_start"], settled["status"]) == ("2026-01-01", "confirmed")


async def test_disconnect_closes_the_player_with_4510_without_blocking(
    stack: Any, open_page: Any, token: Any
) -> None:
    """The console's Disconnect closes the watching player with 4510 and the player says so;
    the user is not blocked, and the node view shows the hub that held the connection."""
    s = stack()
    cid = await s.create_content("Launch trailer")
    player = await open_page(s.player_url(token(21), content=cid))
    await wait_for(player, "window.watchPlayer.rewards.length >= 1")

    async def announced() -> bool:
        return bool((await _get(s, "/api/admin/nodes"))["nodes"])

    await wait_until(announced, 20, "the hub in the node view")
    admin = await open_page(s.admin_url())
    await wait_for(admin, "window.adminConsole.ready")
    await admin.wait_for_selector("#nodes tr[data-node-id]")
    await admin.fill("#user-id", "21")
    await admin.click("#disconnect")
    await admin.wait_for_selector("#block-result[data-disconnected='21']")
    await player.wait_for_selector("#banner:not(.hidden) >> text=Disconnected by an operator")
    assert await player.get_attribute("#state", "data-code") == "4510"
    users = (await _get(s, "/api/admin/users?q=21"))["items"]
    assert [(u["id"], u["blocked"]) for u in users] == [(21, False)]
    await admin.wait_for_selector("#audit tr[data-action='user.disconnect']")


async def test_charts_draw_the_workers_samples_and_ad_stats_open(
    stack: Any, open_page: Any, token: Any
) -> None:
    """With the worker sampling, the charts get points and draw them (a canvas per chart,
    the latest viewers figure shown as text); an ad's Stats shows its figures."""
    s = stack()
    cid = await s.create_content("Launch trailer")
    ad = await s.create_ad(token(40, roles=("advertiser",)), "Spring sale")
    player = await open_page(s.player_url(token(22), content=cid))
    await wait_for(player, "window.watchPlayer.rewards.length >= 1")
    admin = await open_page(s.admin_url())
    await wait_for(admin, "window.adminConsole.ready")
    await wait_for(admin, "window.adminConsole.loaded.series?.points.length >= 1", timeout_s=30)
    for chart in ("viewers", "heartbeats", "rewards", "outbox", "spend"):
        assert await admin.query_selector(f"#chart-{chart} canvas") is not None
    assert await admin.get_attribute("#chart-viewers", "aria-label")
    await admin.click(f"#ads-all tr[data-ad-id='{ad}'] button")
    await admin.wait_for_selector(f"[data-ad-stats='{ad}']")
