"""The console's tags section in headless Chromium against a real stack: renaming onto a
tag that exists is refused on the form (that is a merge); a rename, a merge and a delete
made on the page change the contents' tags in the api."""

from __future__ import annotations

from typing import Any

from tests.browser.test_console import _get
from tests.browser.test_console_missions import box
from tests.browser.test_player import wait_for


async def test_tags_are_renamed_merged_and_deleted(stack: Any, open_page: Any) -> None:
    s = stack()
    a = await s.create_content("Rain", tags=["weather", "clip"])
    b = await s.create_content("Snow", tags=["clips", "winter"])
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.wait_for_selector("#tags tr[data-tag='winter']")

    await page.click("#tags tr[data-tag='weather'] button:has-text('Rename')")
    assert await page.input_value("#tag-tag") == "weather"
    await page.fill("#tag-to", "winter")
    before = await box(page, "#tags")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#tag-rename-error >> text=merge into it instead")
    assert await page.get_attribute("#tag-to", "aria-invalid") == "true"
    assert await box(page, "#tags") == before
    await page.fill("#tag-to", "sky")
    await page.click("#tag-rename")
    await page.wait_for_selector("#tags tr[data-tag='sky']")
    assert await page.get_attribute("#tag-to", "aria-invalid") is None

    await page.fill("#tag-sources", "clip, clips")
    await page.fill("#tag-into", "video")
    await page.click("#tag-merge")
    await page.wait_for_selector("#tags tr[data-tag='video']")
    await page.click("#tags tr[data-tag='winter'] button:has-text('Delete')")
    await page.wait_for_selector("#tags tr[data-tag='winter']", state="detached")

    tags = {c["id"]: c["tags"] for c in (await _get(s, "/api/admin/contents"))["items"]}
    assert tags == {a: ["sky", "video"], b: ["video"]}
    listed = [(g["tag"], g["contents"]) for g in (await _get(s, "/api/admin/tags"))["items"]]
    assert listed == [("sky", 1), ("video", 2)]
    actions = [x["action"] for x in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions[:3] == ["tag.delete", "tag.merge", "tag.rename"]
