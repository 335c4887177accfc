"""Push recovery in the browser (docs/protocol-notes.md, "Push recovery"): the hub dies
between a reward's grant in Redis and its frame; after the page reconnects to a new hub
process, the JavaScript client names the last push it saw and the page shows that reward,
once, and the ledger pays it once.

How the frame is lost, deterministically: Redis is stopped (SIGSTOP) right before the
heartbeat that crosses the boundary, so the hub forwards that heartbeat's tick and waits;
the hub is then killed and Redis continued, which runs the tick (the grant) with no hub left
to send its frame. The push log in Redis is checked to hold the grant before the page is
expected to show it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

from live.keys import UserKeys
from tests.browser.conftest import FAST
from tests.browser.test_credited_time import PAGE_FRAMES, open_player, play_from_start
from tests.browser.test_player import wait_for
from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until

TIMINGS = {"HEARTBEAT_INTERVAL_MS": "1000", "REWARD_INTERVAL_MS": "2500", "SESSION_TTL_MS": "15000"}


async def test_a_reward_granted_while_the_hub_died_is_shown_once_after_the_reconnect(
    stack, open_page, spawn, token, redis, redis_server, engine
) -> None:  # type: ignore[no-untyped-def]
    s = stack(**TIMINGS)
    cid = await s.create_content()
    uid = 41
    rid = f"w:{uid}:{cid}:1"
    began = time.time()  # before the page exists: the span of watching is within this
    page = await open_player(open_page, s.player_url(token(uid), content=cid))
    await play_from_start(page)
    # The last tick before the boundary: the next heartbeat (about 1 s of credit) crosses it.
    await wait_for(
        page,
        "(() => { const t = window.watchPlayer.ticks.at(-1);"
        " return t && t.elapsed_ms < 2500 && t.remaining_ms <= 700; })()",
        timeout_s=15,
    )
    pid = redis_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(1.6)  # the page's next heartbeat reaches the hub, its tick Redis
        s.hub.kill()
    finally:
        os.kill(pid, signal.SIGCONT)
    key = UserKeys(uid, int(FAST["REDIS_PARTITIONS"])).pushes

    async def granted() -> bool:
        return any(json.loads(e).get("rid") == rid for e in await redis.lrange(key, 0, -1))

    await wait_until(granted, 10, f"{rid} granted in Redis after the hub died")
    assert await page.evaluate("() => window.watchPlayer.rewards.length") == 0

    spawn("realtime.app:app", {**s.hub_env}, port=s.hub.port)
    reward = await wait_for(page, "window.watchPlayer.rewards[0]", timeout_s=30)
    assert (reward["reward_id"], reward["recovered"], reward["offset"]) == (rid, True, 1)
    await page.click("#stop")
    await wait_for(page, "window.watchPlayer.stopped[0]", timeout_s=10)
    shown = await page.evaluate("() => window.watchPlayer.rewards.map((r) => r.reward_id)")
    assert shown.count(rid) == 1, shown
    frames = await page.evaluate(PAGE_FRAMES)
    # The heartbeat whose answer died with the hub credited time no tick shows: one cap.
    watch = Watch(uid, [frames], began, time.time(), stop_credits=True)
    paid = await conserved(engine, [watch], heartbeat_ms=int(TIMINGS["HEARTBEAT_INTERVAL_MS"]))
    assert rid in paid and len(paid) == len(shown)
