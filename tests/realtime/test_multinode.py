"""Several hub processes on one Redis: takeover, resume, races, a killed node, drain."""

import asyncio
import signal
import time

from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until


async def test_takeover_on_node_b_closes_the_old_connection_on_node_a(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    a, b = hub(), hub()
    cid = await content()
    old = await player(a, 61)
    await old.start(cid, tab="A", device="tv")
    new = await player(b, 61)
    assert (await new.start(cid, tab="B", device="phone", takeover=True))["type"] == "started"
    assert await old.expect("replaced") == {
        "type": "replaced",
        "content_id": cid,
        "by_device_id": "phone",
    }
    assert await old.closed_with() == 4509
    assert (await new.request("heartbeat", "tick", playing=True, visible=True))["type"] == "tick"


async def test_reconnect_to_another_node_resumes(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    a, b = hub(), hub()
    cid = await content()
    p = await player(a, 62)
    first = await p.start(cid)
    await asyncio.sleep(0.3)
    tick = await p.request("heartbeat", "tick", playing=True, visible=True)
    await p.ws.close()
    q = await player(b, 62)
    again = await q.start(cid)
    assert again["resumed"] and again["session_id"] == first["session_id"]
    assert again["elapsed_ms"] == tick["elapsed_ms"]


async def test_two_tabs_racing_heartbeats_earn_exactly_once_per_boundary(
    hub, player, content, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """Two connections of one user (same tab, resumed on two nodes) flood heartbeats for
    thousands of ticks: the time credited is no more than the time that passed, the session
    stops with the sum of its ticks, and the rewards shown are the ledger's, once each."""
    worker(REDIS_PARTITIONS="8")
    a, b = hub(WS_MAX_MESSAGES_PER_SECOND="10000"), hub(WS_MAX_MESSAGES_PER_SECOND="10000")
    cid = await content(reward_interval_ms=1000)
    x = await player(a, 63)
    y = await player(b, 63)
    watch = Watch(63, [x.frames, y.frames])
    await x.start(cid)
    assert (await y.start(cid))["resumed"]

    async def flood(c, seconds: float) -> int:  # type: ignore[no-untyped-def]
        last = 0
        end = time.monotonic() + seconds
        for _ in range(50_000):  # bounded; the clock ends it first
            if time.monotonic() > end:
                break
            tick = await c.request("heartbeat", "tick", playing=True, visible=True)
            last = max(last, tick["elapsed_ms"])
        return last

    elapsed = max(await asyncio.gather(flood(x, 3.5), flood(y, 3.5)))
    await x.request("stop", "stopped")
    watch.ended = time.time()
    rewards = [rid for rid, _ in watch.rewards()]
    assert len(rewards) == len(set(rewards)) == elapsed // 1000 > 0
    assert watch.credited_ms() == elapsed
    await conserved(engine, [watch], heartbeat_ms=1000)


async def test_killed_node_viewers_leave_within_ttl_plus_5s(hub, player, content, redis) -> None:  # type: ignore[no-untyped-def]
    a, b = hub(), hub()
    cid = await content()
    doomed = await player(a, 64)
    await doomed.start(cid)
    watcher = await player(b, 65)
    assert (await watcher.start(cid))["viewers"] == 2
    a.kill()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    while True:
        await asyncio.sleep(0.5)
        await watcher.request("heartbeat", "tick", playing=True, visible=True)
        counts = [f["count"] for f in watcher.frames if f["type"] == "viewers"]
        if counts and counts[-1] == 1:
            break
        assert loop.time() - killed_at < 3 + 5, "dead node's viewer still counted"
    # The user of the dead node may start anywhere once the session expired.
    again = await player(b, 64)
    assert (await again.start(cid, tab="other", device="other"))["type"] == "started"


async def test_sigterm_drains_with_1012_and_ready_turns_503(hub, player) -> None:  # type: ignore[no-untyped-def]
    import httpx

    h = hub(DRAIN_SECONDS="2")
    clients = [await player(h, 70 + i) for i in range(6)]
    h.proc.send_signal(signal.SIGTERM)
    async with httpx.AsyncClient() as http:

        async def not_ready() -> bool:
            return (await http.get(f"{h.url}/ready")).status_code == 503

        await wait_until(not_ready, 5, "/ready to answer 503 while draining")
    codes = await asyncio.gather(*(c.closed_with(6) for c in clients))
    assert codes == [1012] * 6
    assert h.proc.wait(10) is not None
