"""Credited time around pauses, hides, stops, tab closes and reconnects: what the hub credits
(ticks, `stopped.watched_ms`, the per-content total in Redis) against the time the page
really played, on both transports.

The heartbeat interval is 10 s here, so no regular heartbeat falls inside a test's few
seconds: every credit comes from the heartbeat that a change (pause, hide, stop, resume)
sends, which is what these tests are about. TOLERANCE_MS covers the loopback round trips
and the page's event delivery; a lost period is whole seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from live.keys import UserKeys
from tests.browser.conftest import FAST
from tests.browser.test_player import HIDE, wait_for
from tests.support.conservation import Watch, conserved

TOLERANCE_MS = 400
SLOW = {"HEARTBEAT_INTERVAL_MS": "10000", "SESSION_TTL_MS": "30000", "REWARD_INTERVAL_MS": "600000"}

# The page's own record of when the video element began to play (the `play` event: from then
# on `paused` is false, which is what "playing" means to the client too).
RECORD_PLAY = """document.addEventListener("play", () => { window.playAt = Date.now(); }, true);"""
# When the page began earning: after `started`, once the video plays.
EARNING_SINCE = """() => {
  const p = window.watchPlayer.client?.progress();
  return window.watchPlayer.startedAt && window.playAt && p?.earning
    ? Math.max(window.watchPlayer.startedAt, window.playAt) : null;
}"""
NOW = "() => Date.now()"
PAUSE = "() => { document.getElementById('video').pause(); return Date.now(); }"
PLAY = "() => document.getElementById('video').play().then(() => Date.now())"


# Everything the page was told in its one session, as frames for the conservation oracle.
PAGE_FRAMES = """() => {
  const h = window.watchPlayer;
  return [
    { ...h.lastStarted, type: "started" },
    ...h.ticks.map((t) => ({ ...t, type: "tick" })),
    ...h.rewards.map((r) => ({ ...r, type: "reward" })),
    ...h.stopped.map((m) => ({ ...m, type: "stopped" })),
  ];
}"""


async def credited_total(redis: Any, user_id: int, content_id: int) -> int:
    """The user's credited milliseconds on the content, as the hub keeps them."""
    key = UserKeys(user_id, int(FAST["REDIS_PARTITIONS"])).watch
    value = await redis.hget(key, f"e:{content_id}")
    return int(value or 0)


async def session_ended(redis: Any, user_id: int) -> bool:
    """True once the user's live session is gone from Redis (within 5 s)."""
    key = UserKeys(user_id, int(FAST["REDIS_PARTITIONS"])).session
    for _ in range(50):
        if not await redis.exists(key):
            return True
        await asyncio.sleep(0.1)
    return False


async def credited_in_ticks(page: Any) -> int:
    return int(
        await page.evaluate("() => window.watchPlayer.ticks.reduce((a, t) => a + t.credited_ms, 0)")
    )


async def open_player(open_page: Any, url: str) -> Any:
    page = await open_page("about:blank")
    await page.add_init_script(RECORD_PLAY)
    await page.goto(url)
    return page


async def play_from_start(page: Any) -> int:
    """Wait until the page earns; the page's Date.now() from which it does."""
    return int(await wait_for(page, EARNING_SINCE, timeout_s=15))


def near(actual: int, expected: int) -> bool:
    return abs(actual - expected) <= TOLERANCE_MS


async def test_a_pause_credits_the_play_before_it_and_stop_credits_the_last_period(
    stack, open_page, token, redis
) -> None:  # type: ignore[no-untyped-def]
    """Play 2.5 s, pause (credited: the 2.5 s), wait paused, play 2 s, press Stop: the stop
    credits those 2 s too, and `stopped.watched_ms` is the whole played time."""
    s = stack(**SLOW)
    cid = await s.create_content()
    page = await open_player(open_page, s.player_url(token(31), content=cid))
    t0 = await play_from_start(page)
    await asyncio.sleep(2.5)
    t1 = await page.evaluate(PAUSE)
    await wait_for(page, "window.watchPlayer.ticks.length >= 1")
    first = await credited_in_ticks(page)
    assert near(first, t1 - t0), (first, t1 - t0)  # was 0: the pause was folded into it
    await asyncio.sleep(1.5)
    assert await credited_in_ticks(page) == first  # paused time is not credited
    t2 = await page.evaluate(PLAY)
    await wait_for(page, "window.watchPlayer.client.progress()?.earning")
    await asyncio.sleep(2.0)
    t3 = await page.evaluate(NOW)
    await page.click("#stop")
    stopped = await wait_for(page, "window.watchPlayer.stopped[0]")
    played = (t1 - t0) + (t3 - t2)
    assert stopped["content_id"] == cid
    assert near(stopped["watched_ms"], played), (stopped, played)  # was the first 2.5 s only
    assert near(await credited_total(redis, 31, cid), played)


async def test_hiding_the_page_credits_the_visible_time_before_it(
    stack, open_page, token, redis
) -> None:  # type: ignore[no-untyped-def]
    """Hiding the page reports the visible period as watched, then nothing while hidden."""
    s = stack(**SLOW)
    cid = await s.create_content()
    page = await open_player(open_page, s.player_url(token(32), content=cid))
    t0 = await play_from_start(page)
    await asyncio.sleep(2.0)
    t1 = await page.evaluate(NOW)
    await page.evaluate(HIDE)
    await wait_for(page, "window.watchPlayer.ticks.length >= 1")
    assert near(await credited_in_ticks(page), t1 - t0)
    await asyncio.sleep(1.5)
    assert near(await credited_total(redis, 32, cid), t1 - t0)


async def test_closing_the_tab_credits_the_last_period_and_ends_the_session(
    stack, open_page, token, redis
) -> None:  # type: ignore[no-untyped-def]
    """A closed tab sends its last period with the stop: credited, and the session is gone."""
    s = stack(**SLOW)
    cid = await s.create_content()
    page = await open_player(open_page, s.player_url(token(33), content=cid))
    t0 = await play_from_start(page)
    await asyncio.sleep(2.0)
    t1 = await page.evaluate(NOW)
    await page.close(run_before_unload=True)
    assert await session_ended(redis, 33)
    assert near(await credited_total(redis, 33, cid), t1 - t0)


async def test_a_reconnect_credits_the_time_across_the_outage(
    stack, open_page, spawn, token, redis
) -> None:  # type: ignore[no-untyped-def]
    """The hub is killed and restarted while the video plays: the resumed session reports the
    period since the last heartbeat (the outage included, within the hub's 1.5-interval
    cap), so the credited time is the played time."""
    s = stack(**SLOW)
    cid = await s.create_content()
    page = await open_player(open_page, s.player_url(token(34), content=cid))
    t0 = await play_from_start(page)
    await asyncio.sleep(1.0)
    s.hub.kill()
    await wait_for(page, "document.getElementById('state').dataset.state === 'reconnecting'")
    spawn("realtime.app:app", {**s.hub_env}, port=s.hub.port)
    await wait_for(
        page, "window.watchPlayer.lastStarted.resumed && window.watchPlayer.ticks.length >= 1", 20
    )
    t1 = await page.evaluate(NOW)
    assert t1 - t0 < 15000  # inside the cap: all of it can be credited
    assert near(await credited_in_ticks(page), t1 - t0)
    await asyncio.sleep(1.0)
    t2 = await page.evaluate(NOW)
    await page.click("#stop")
    stopped = await wait_for(page, "window.watchPlayer.stopped[0]")
    assert near(stopped["watched_ms"], t2 - t0), (stopped, t2 - t0)


async def test_http_fallback_pause_and_stop_credit_their_periods(
    stack, open_page, token, redis
) -> None:  # type: ignore[no-untyped-def]
    """The same over the HTTP timer endpoints: a pause reports the played period, and the
    out-event carries the last one."""
    s = stack(**SLOW)
    cid = await s.create_content()
    page = await open_player(open_page, s.player_url(token(35), content=cid, transport="http"))
    t0 = await play_from_start(page)
    assert await page.evaluate("() => window.watchPlayer.client.transport") == "http"
    await asyncio.sleep(2.0)
    t1 = await page.evaluate(PAUSE)
    await wait_for(
        page, f"window.watchPlayer.ticks.reduce((a, t) => a + t.credited_ms, 0) > {(t1 - t0) // 2}"
    )
    await asyncio.sleep(1.0)
    assert near(await credited_in_ticks(page), t1 - t0)
    t2 = await page.evaluate(PLAY)
    await wait_for(page, "window.watchPlayer.client.progress()?.earning")
    await asyncio.sleep(1.5)
    t3 = await page.evaluate(NOW)
    await page.click("#stop")
    stopped = await wait_for(page, "window.watchPlayer.stopped[0]")
    played = (t1 - t0) + (t3 - t2)
    assert near(stopped["watched_ms"], played), (stopped, played)
    assert near(await credited_total(redis, 35, cid), played)


async def test_http_fallback_tab_close_credits_the_last_period(
    stack, open_page, token, redis
) -> None:  # type: ignore[no-untyped-def]
    """Over HTTP a closing tab sends the out-event as a keepalive request, with its period."""
    s = stack(**SLOW)
    cid = await s.create_content()
    page = await open_player(open_page, s.player_url(token(36), content=cid, transport="http"))
    t0 = await play_from_start(page)
    await asyncio.sleep(1.5)
    t1 = await page.evaluate(NOW)
    await page.close(run_before_unload=True)
    assert await session_ended(redis, 36)
    # HTTP heartbeats run every second until the interval is learnt: the total is what the
    # page played, whichever calls reported it.
    assert near(await credited_total(redis, 36, cid), t1 - t0)


@pytest.mark.parametrize("transport", ["ws", "http"])
async def test_what_the_page_was_shown_is_what_the_ledger_pays(
    stack, open_page, token, engine, transport
) -> None:  # type: ignore[no-untyped-def]
    """Watch until three rewards, press Stop: the page was credited no more than the time
    that passed, its session row holds the stop's `watched_ms`, the rewards it showed are
    the ledger's rows, and the balance it shows is the user's balance in PostgreSQL."""
    s = stack()
    cid = await s.create_content()
    uid = {"ws": 37, "http": 38}[transport]
    extra = {"transport": "http"} if transport == "http" else {}
    page = await open_player(open_page, s.player_url(token(uid), content=cid, **extra))
    await wait_for(page, "window.watchPlayer.rewards.length >= 3", timeout_s=20)
    assert await page.evaluate("() => window.watchPlayer.client.transport") == transport
    await page.click("#stop")
    await wait_for(page, "window.watchPlayer.stopped[0]")
    frames = await page.evaluate(PAGE_FRAMES)
    # From the page's `started` (the same machine's clock): the session began at most one
    # round trip before it, which the oracle's one-cap allowance covers.
    began = await page.evaluate("() => window.watchPlayer.startedAt") / 1000
    watch = Watch(uid, [frames], began, time.time(), stop_credits=transport == "http")
    paid = await conserved(engine, [watch], heartbeat_ms=int(FAST["HEARTBEAT_INTERVAL_MS"]))
    assert len(paid) >= 3
    assert int(await page.text_content("#balance") or "-1") == sum(a for _, a in paid.values())
