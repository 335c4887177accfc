"""The console's YouTube section in headless Chromium against a real stack whose api talks
to the YouTube stand-in (devkit/servers/youtube.py, configured by YOUTUBE_API_KEY and
YOUTUBE_API_URL as in tests/youtube/conftest.py): an import started on the page is a job
of the api with what it skipped, and "Refresh now" brings a changed title in."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.browser.test_console import _get
from tests.browser.test_console_missions import box
from tests.browser.test_player import wait_for
from tests.youtube.conftest import KEY, PLAYLIST, VIDEO

DATA = Path(__file__).resolve().parents[2] / "devkit" / "servers" / "youtube_data" / "videos.json"


async def test_an_import_job_and_refresh_now(
    stack: Any, open_page: Any, spawn: Callable[..., Any]
) -> None:
    standin = spawn("devkit.servers.youtube:app").url
    s = stack(YOUTUBE_API_KEY=KEY, YOUTUBE_API_URL=standin + "/youtube/v3")
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")

    await page.fill("#youtube-source", "not a youtube thing at all")
    before = await box(page, "#youtube-jobs")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#youtube-import-error >> text=not a YouTube")
    assert await page.get_attribute("#youtube-source", "aria-invalid") == "true"
    assert await box(page, "#youtube-jobs") == before
    assert (await _get(s, "/api/admin/youtube/imports"))["items"] == []

    await page.fill("#youtube-source", f"https://www.youtube.com/playlist?list={PLAYLIST}")
    await page.click("#youtube-import")
    await page.wait_for_selector("#youtube-status >> text=done")
    [job] = (await _get(s, "/api/admin/youtube/imports"))["items"]
    assert (job["kind"], job["status"], job["source"]) == (
        "playlist",
        "done",
        f"https://www.youtube.com/playlist?list={PLAYLIST}",
    )
    assert job["created"] >= 1
    await page.wait_for_selector(f"#youtube-jobs tr[data-job-id='{job['id']}'][data-status='done']")
    skipped = await page.text_content("#youtube-job") or ""
    assert all(item["id"] in skipped for item in job["skipped_items"])

    await page.fill("#youtube-source", VIDEO)
    await page.click("#youtube-import")
    await wait_for(page, "document.querySelectorAll('#youtube-jobs tr[data-job-id]').length === 2")
    contents = (await _get(s, "/api/admin/contents?limit=100"))["items"]
    [cid] = [c["id"] for c in contents if VIDEO in c["source_url"]]

    [item] = [i for i in json.loads(DATA.read_text())["items"] if i["id"] == VIDEO]
    item["snippet"]["title"] = "A title changed on YouTube"
    async with httpx.AsyncClient() as http:
        (await http.put(f"{standin}/_videos/{VIDEO}", json=item)).raise_for_status()
    await page.fill("#youtube-content_id", str(cid))
    await page.click("#youtube-refresh")
    await page.wait_for_selector(f"#youtube-refreshed [data-refreshed='{cid}']")
    contents = (await _get(s, "/api/admin/contents?limit=100"))["items"]
    assert [c["title"] for c in contents if c["id"] == cid] == ["A title changed on YouTube"]
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions[:2] == ["youtube.import", "youtube.import"]
