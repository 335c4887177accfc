"""The player's catalog shows live viewer counts from the hub's `/sse/live` stream, read by
the browser's own EventSource in headless Chromium."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from tests.browser.test_player import wait_for


async def test_the_catalog_counts_follow_the_live_stream(stack, open_page, token) -> None:  # type: ignore[no-untyped-def]
    s = stack()
    watched = await s.create_content("Watched clip")
    other = await s.create_content("Quiet clip")
    page = await open_page(s.player_url(token(41)))
    await page.wait_for_selector(f"#catalog li[data-content-id='{other}']")
    # The EventSource's first event arrives at once: nobody watches anything yet.
    await wait_for(page, "window.watchPlayer.live.length >= 1")
    item = f"#catalog li[data-content-id='{watched}'] .watching"
    assert await page.text_content(item) == "0 watching"

    async with connect(f"{s.hub.ws_url}/ws?token={token(42)}", open_timeout=5) as ws:
        await ws.recv()  # hello
        start = {"type": "start", "content_id": watched, "tab_id": "t", "device_id": "d"}
        await ws.send(json.dumps(start))

        async def beat() -> None:
            while True:
                await asyncio.sleep(0.25)
                await ws.send(json.dumps({"type": "heartbeat", "playing": True, "visible": True}))

        beats: asyncio.Task[Any] = asyncio.create_task(beat())
        try:
            # The next `live` event (2 to ~5 s), not the catalog's 10 s reload, brings it.
            await wait_for(
                page, f"document.querySelector(\"{item}\").textContent === '1 watching'", 7
            )
            quiet = f"#catalog li[data-content-id='{other}'] .watching"
            assert await page.text_content(quiet) == "0 watching"
            summary = page.locator("#catalog-live")
            assert await summary.get_attribute("aria-live") == "polite"
            assert await summary.text_content() == "live now: 1 watching 1 content"
            items = await page.evaluate("() => window.watchPlayer.live.at(-1)")
            assert items == [{"content_id": watched, "count": 1}]
        finally:
            beats.cancel()
    # The viewer left: an event once its session has ended (at most SESSION_TTL_MS) says so.
    await wait_for(page, f"document.querySelector(\"{item}\").textContent === '0 watching'", 12)
