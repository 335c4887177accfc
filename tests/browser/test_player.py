"""The demo player and its JavaScript client (web/), in headless Chromium, against real hub
and api processes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.browser.conftest import screenshot

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def wait_for(page: Any, js: str, timeout_s: float = 10.0) -> Any:
    """Wait until the expression (or function) is truthy in the page; return it. Polled with
    `evaluate` (compiled by the DevTools protocol): Playwright's wait_for_function compiles
    its predicate with `new Function` in the page, which the pages' CSP refuses."""
    deadline = time.monotonic() + timeout_s
    func = js if js.lstrip().startswith(("()", "function", "async")) else f"() => ({js})"
    while True:
        value = await page.evaluate(func)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout_s} s: {js}")
        await asyncio.sleep(0.05)


async def ticks(page: Any) -> list[dict[str, Any]]:
    return await page.evaluate("() => window.watchPlayer.ticks")


async def test_a_reward_arrives_in_the_player(stack, open_page, token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Watching a content credits time, and a reward shows as a toast with the new balance."""
    s = stack()
    cid = await s.create_content("Sample clip")
    await s.create_content("Another clip", tags=["demo"])
    page = await open_page(s.player_url(token(7), content=cid))
    await wait_for(page, "window.watchPlayer.rewards.length >= 1")
    reward = (await page.evaluate("() => window.watchPlayer.rewards"))[0]
    assert reward["reward_id"] == f"w:7:{cid}:1" and reward["amount"] == 10
    assert await page.text_content("#balance") in ("10", "20", "30")
    assert "+10 coins" in (await page.text_content("#toasts") or "")
    assert await page.get_attribute("#state", "data-state") == "watching"
    assert (await page.text_content("#viewers")) == "1"
    # The catalog came from the api (CORS), with the content being watched highlighted.
    await page.wait_for_selector(f"#catalog li.active[data-content-id='{cid}']")
    assert await page.locator("#catalog li").count() == 2
    assert (await page.text_content("#countdown") or "").endswith(" s")
    await screenshot(page, "player", tmp_path)


async def test_pausing_stops_the_countdown(stack, open_page, token) -> None:  # type: ignore[no-untyped-def]
    """A paused video reports `playing: false`: nothing is credited and the countdown stands."""
    s = stack(REWARD_INTERVAL_MS="60000")
    cid = await s.create_content()
    page = await open_page(s.player_url(token(8), content=cid))
    await wait_for(page, "window.watchPlayer.ticks.some((t) => t.credited_ms > 0)")
    await page.evaluate("() => document.getElementById('video').pause()")
    await asyncio.sleep(0.6)  # the pause's own heartbeat reports the time played before it
    before = await page.text_content("#countdown")
    n = len(await ticks(page))
    await asyncio.sleep(1.5)
    assert await page.text_content("#countdown") == before
    after = (await ticks(page))[n:]
    assert len(after) >= 3 and all(t["credited_ms"] == 0 for t in after), after
    assert "paused" in (await page.text_content("#earning") or "")
    # Playing again moves it on. The countdown shows whole seconds rounded up, so it moves
    # once a full second more is credited: wait for that (bounded) rather than a fixed 1 s,
    # which the resume's own latency (the video restarting, the next heartbeat) can eat.
    await page.evaluate("() => document.getElementById('video').play()")
    await wait_for(
        page, f"() => document.getElementById('countdown').textContent !== {before!r}", timeout_s=5
    )
    assert (await ticks(page))[-1]["credited_ms"] > 0


async def test_hiding_the_page_stops_crediting(stack, open_page, token) -> None:  # type: ignore[no-untyped-def]
    """A hidden page (Page Visibility API) reports `visible: false`: no time is credited."""
    s = stack()
    cid = await s.create_content()
    page = await open_page(s.player_url(token(9), content=cid))
    await wait_for(page, "window.watchPlayer.ticks.some((t) => t.credited_ms > 0)")
    await page.evaluate(HIDE)
    await asyncio.sleep(0.5)
    n = len(await ticks(page))
    rewards = len(await page.evaluate("() => window.watchPlayer.rewards"))
    await asyncio.sleep(2.0)
    after = (await ticks(page))[n:]
    assert len(after) >= 4 and all(t["credited_ms"] == 0 for t in after), after
    assert len({t["elapsed_ms"] for t in after}) == 1
    assert len(await page.evaluate("() => window.watchPlayer.rewards")) == rewards
    await page.evaluate(SHOW)
    seen = n + len(after)
    await wait_for(page, f"window.watchPlayer.ticks.slice({seen}).some((t) => t.credited_ms > 0)")


async def test_a_takeover_in_a_second_tab_shows_replaced_in_the_first(
    stack, open_page, token, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A second tab first sees the conflict, takes over, and the first tab says so."""
    s = stack()
    cid = await s.create_content()
    tok = token(10)
    first = await open_page(s.player_url(tok, content=cid))
    await wait_for(first, "window.watchPlayer.lastStarted")
    second = await open_page(s.player_url(tok, content=cid), context=first.context)
    await second.wait_for_selector("#banner:not(.hidden) >> text=Watching elsewhere")
    await second.click("#banner button:has-text('Watch here instead')")
    await wait_for(second, "window.watchPlayer.lastStarted")
    await first.wait_for_selector("#banner:not(.hidden) >> text=Taken over by another tab")
    assert await first.get_attribute("#state", "data-code") == "4509"
    assert await first.evaluate("() => document.getElementById('video').paused")
    tab_of = "() => window.watchPlayer.client.tabId"
    assert await first.evaluate(tab_of) != await second.evaluate(tab_of)
    await wait_for(second, "window.watchPlayer.ticks.some((t) => t.credited_ms > 0)")
    await screenshot(first, "player-replaced", tmp_path)


async def test_killed_hub_the_client_reconnects_and_resumes(stack, open_page, spawn, token) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the hub, start a new one on the same port: the client reconnects with backoff
    and resumes the same session (resumed, credited time kept)."""
    s = stack(SESSION_TTL_MS="30000")
    cid = await s.create_content()
    page = await open_page(s.player_url(token(11), content=cid))
    await wait_for(page, "window.watchPlayer.rewards.length >= 1")
    elapsed = (await ticks(page))[-1]["elapsed_ms"]
    session_id = await page.evaluate("() => window.watchPlayer.lastStarted.session_id")
    s.hub.kill()
    await wait_for(page, "document.getElementById('state').dataset.state === 'reconnecting'")
    spawn("realtime.app:app", {**s.hub_env}, port=s.hub.port)
    started = await wait_for(
        page, "window.watchPlayer.lastStarted.resumed && window.watchPlayer.lastStarted", 40
    )
    assert started["session_id"] == session_id and started["elapsed_ms"] >= elapsed
    assert await page.get_attribute("#state", "data-state") == "watching"
    assert await page.evaluate("() => window.watchPlayer.client.transport") == "ws"
    events = await page.evaluate("() => window.watchPlayer.events")
    assert not any("http_fallback" in e for e in events), events  # the hub was down, not WS
    count = len(await page.evaluate("() => window.watchPlayer.rewards"))
    await wait_for(page, f"window.watchPlayer.rewards.length > {count}")


async def test_token_is_refreshed_before_it_expires(stack, open_page, token) -> None:  # type: ignore[no-untyped-def]
    """With a 3 s token and a getToken() hook, the client sends `auth` in time and the
    connection outlives the first token (no 4005)."""
    s = stack()
    cid = await s.create_content()
    page = await open_page("about:blank")
    await page.expose_function("watchGetToken", lambda: token(12, ttl_s=3600))
    await page.goto(s.player_url(token(12, ttl_s=3), content=cid))
    await wait_for(page, "window.watchPlayer.events.some((e) => e.startsWith('token refreshed'))")
    await asyncio.sleep(3.5)
    assert await page.get_attribute("#state", "data-state") == "watching"
    events = await page.evaluate("() => window.watchPlayer.events")
    assert not any("4005" in e for e in events), events


async def test_http_fallback_when_no_websocket_opens(stack, open_page, token) -> None:  # type: ignore[no-untyped-def]
    """When the WebSocket cannot be opened, the client switches to the HTTP timer endpoints
    and rewards still arrive."""
    from devkit.servers import free_port

    s = stack()
    cid = await s.create_content()
    dead = f"ws://127.0.0.1:{free_port()}/ws"
    page = await open_page(s.player_url(token(13), content=cid, ws=dead))
    await wait_for(page, "window.watchPlayer.rewards.length >= 1", 20)
    assert await page.evaluate("() => window.watchPlayer.client.transport") == "http"
    assert "HTTP fallback" in (await page.text_content("#state") or "")
    reward = (await page.evaluate("() => window.watchPlayer.rewards"))[0]
    assert reward["reward_id"] == f"w:13:{cid}:1"


async def test_client_helpers_backoff_and_close_codes(stack, open_page) -> None:  # type: ignore[no-untyped-def]
    """The module as served: backoff doubles from 1 s to 30 s with jitter between half and all
    of it; 1000, 1009 and 4500-4999 are terminal, the rest reconnect."""
    s = stack()
    page = await open_page(f"{s.hub.url}/player")
    result = await page.evaluate("""async () => {
      const m = await import("/static/watch-client.js");
      const lo = [1, 2, 3, 4, 5, 6, 7, 10].map((a) => m.backoffDelay(a, () => 0));
      const hi = [1, 2, 3, 4, 5, 6, 7, 10].map((a) => m.backoffDelay(a, () => 0.999999));
      const codes = [1000, 1001, 1006, 1009, 1012, 4005, 4029, 4499, 4500, 4501, 4503, 4509, 4999];
      const terminal = codes.filter((c) => m.isTerminalClose(c));
      const claims = m.tokenClaims("x." + btoa(JSON.stringify({ exp: 42 })).replace(/=+$/, "") + ".y");
      return { lo, hi, terminal, exp: claims.exp, bad: m.tokenClaims("garbage") };
    }""")
    assert result["lo"] == [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]
    assert result["hi"] == [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    assert result["terminal"] == [1000, 1009, 4500, 4501, 4503, 4509, 4999]
    assert result["exp"] == 42 and result["bad"] is None


async def test_a_refused_token_is_terminal(stack, open_page) -> None:  # type: ignore[no-untyped-def]
    """4501 (unauthorized) is in the terminal range: the player says so and does not retry."""
    s = stack()
    cid = await s.create_content()
    page = await open_page(s.player_url("not-a-token", content=cid))
    await page.wait_for_selector("#banner:not(.hidden) >> text=Token refused")
    assert await page.get_attribute("#state", "data-code") == "4501"
    await asyncio.sleep(2.5)  # past the first backoff delays: nothing more was tried
    events = await page.evaluate("() => window.watchPlayer.events")
    assert sum(e.startswith("state connecting") for e in events) == 1, events
    assert not any(e.startswith("state reconnecting") for e in events), events


async def test_the_player_finds_an_api_on_its_own_origin(stack, open_page, token) -> None:  # type: ignore[no-untyped-def]
    """Without `api=`, a player page served where the api answers too (one proxy in front of
    both, as compose's nginx) uses its own origin; served by the hub alone, port 8000 of its
    host (the dev run's layout)."""
    s = stack()
    page = await open_page(f"{s.api.url}/static/player.html#token={token(7)}")
    assert await wait_for(page, "document.getElementById('api').value") == s.api.url
    page = await open_page(f"{s.hub.url}/player#token={token(7)}")
    assert await wait_for(page, "document.getElementById('api').value") == "http://127.0.0.1:8000"
