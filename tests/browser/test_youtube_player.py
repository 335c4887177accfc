"""The JS client following a YouTube IFrame player (web/watch/youtube.js) in Chromium: a
stand-in `YT.Player` object (its onStateChange and getPlayerState, as the IFrame API has
them) drives a real client against a real hub, on a live imported from the stand-in YouTube
API (no fixed duration). Playing earns rewards that reach the ledger; paused and buffering
credit nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.browser.conftest import FAST
from tests.browser.test_credited_time import credited_total
from tests.browser.test_player import wait_for
from tests.support.conservation import Watch, conserved

# A stand-in for YT.Player: what the client uses of the IFrame Player API, and `set(code)`
# to move it to a YT.PlayerState as the real player does (firing onStateChange).
STAND_IN = """
class StandInPlayer {
  constructor() { this.code = -1; this.t = 0; this.listeners = new Set(); }
  addEventListener(name, fn) { if (name === "onStateChange") this.listeners.add(fn); }
  removeEventListener(name, fn) { if (name === "onStateChange") this.listeners.delete(fn); }
  getPlayerState() { return this.code; }
  getCurrentTime() { return this.t; }
  set(code) { this.code = code; for (const fn of this.listeners) fn({ target: this, data: code }); }
}
"""

# Load the client from the hub, as a page does, and watch `cid` following the stand-in.
WATCH = (
    """async ([token, cid]) => {
  const { WatchClient, youtubeState } = await import("/static/watch-client.js");
"""
    + STAND_IN
    + """
  const player = new StandInPlayer();
  const seen = { started: null, ticks: [], rewards: [], stopped: [] };
  const client = new WatchClient({ hubUrl: location.origin, token, youtube: player, transport: "ws" });
  client.on("tick", (t) => seen.ticks.push(t));
  client.on("reward", (r) => seen.rewards.push(r));
  client.on("stopped", (m) => seen.stopped.push(m));
  const startedAt = Date.now();
  seen.started = await client.watch(cid);
  window.yt = { player, client, seen, youtubeState, startedAt };
  return seen.started.content_id;
}"""
)
FRAMES = """() => {
  const s = window.yt.seen;
  return [
    { ...s.started, type: "started" },
    ...s.ticks.map((t) => ({ ...t, type: "tick" })),
    ...s.rewards.map((r) => ({ ...r, type: "reward" })),
    ...s.stopped.map((m) => ({ ...m, type: "stopped" })),
  ];
}"""
PLAYING, PAUSED, BUFFERING = 1, 2, 3


async def _import_live(s: Any) -> int:
    """Import the stand-in's live broadcast; its content id."""
    auth = {"Authorization": f"Bearer {s.admin_token}"}
    async with httpx.AsyncClient(base_url=s.api.url, timeout=15) as http:
        r = await http.post(
            "/api/admin/youtube/imports", json={"source": "jfKfPfyJRdk"}, headers=auth
        )
        assert r.status_code == 201 and r.json()["data"]["created"] == 1, r.text
        found = (await http.get("/api/search", params={"q": "lofi"})).json()["data"]["items"]
    assert found[0]["live_state"] == "live" and found[0]["duration_s"] is None, found
    return int(found[0]["id"])


async def _ticks_after(page: Any, n: int) -> None:
    """Wait for `n` more ticks than the page has now (heartbeats every 300 ms)."""
    have = await page.evaluate("() => window.yt.seen.ticks.length")
    await wait_for(page, f"window.yt.seen.ticks.length >= {have + n}")


async def test_a_youtube_player_earns_while_playing_only(
    stack: Callable[..., Any],
    spawn: Callable[..., Any],
    open_page: Callable[..., Any],
    token: Callable[..., str],
    redis: Any,
    engine: Any,
) -> None:
    """Playing a live (no fixed duration) earns rewards that the ledger pays; paused and
    buffering heartbeats credit nothing; the page was shown exactly what the ledger holds."""
    youtube = spawn("devkit.servers.youtube:app").url + "/youtube/v3"
    s = stack(YOUTUBE_API_KEY="test-key", YOUTUBE_API_URL=youtube)
    cid = await _import_live(s)
    uid = 51
    page = await open_page(f"{s.hub.url}/health")
    assert await page.evaluate(WATCH, [token(uid), cid]) == cid
    # YT.PlayerState as ours: unstarted, ended, playing, paused, buffering, cued, unknown.
    states = await page.evaluate("() => [-1, 0, 1, 2, 3, 5, 9].map(window.yt.youtubeState)")
    assert states == ["paused", "ended", "playing", "paused", "buffering", "paused", "paused"]

    await page.evaluate(f"() => window.yt.player.set({PLAYING})")
    await wait_for(page, "window.yt.seen.rewards.length >= 2", timeout_s=20)

    for state in (PAUSED, BUFFERING):
        await page.evaluate(f"() => window.yt.player.set({state})")
        # The change's heartbeat (sent at once, answered in order) credits the play before
        # it; two ticks on, it has been answered whatever heartbeat was in flight.
        await _ticks_after(page, 2)
        before = await credited_total(redis, uid, cid)
        await _ticks_after(page, 4)
        assert await credited_total(redis, uid, cid) == before, state
        last = await page.evaluate("() => window.yt.seen.ticks.slice(-4)")
        assert [t["credited_ms"] for t in last] == [0, 0, 0, 0], (state, last)

    await page.evaluate("() => window.yt.client.stop()")
    await wait_for(page, "window.yt.seen.stopped[0]")
    frames = await page.evaluate(FRAMES)
    began = await page.evaluate("() => window.yt.startedAt") / 1000
    watch = Watch(uid, [frames], began, time.time())
    paid = await conserved(engine, [watch], heartbeat_ms=int(FAST["HEARTBEAT_INTERVAL_MS"]))
    assert len(paid) >= 2
    assert all(rid.startswith(f"w:{uid}:{cid}:") for rid in paid)
